"""Cross-stage studies and reports: the top floor of the house.

They may import anything of qat/, hw/ and sim/; nothing imports them (tests aside).
"""
