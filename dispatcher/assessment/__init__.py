"""Ability assessment of older adults to GB/T 42195-2022 (老年人能力评估规范): items, scoring, ability level.

Pure: no database, no clock. ``gbt42195`` holds the standard's tables as data, ``scoring`` turns a filled form
into dimension scores, a total and a level (or refuses it, saying which answer is wrong and why).
"""
