"""The partner sandbox: emulators of the TikTok and Pinterest APIs the product talks to.

It imports nothing of the product (only Django, orjson and the standard library), so a
contract error in the product's clients cannot hide behind shared code.
"""
