"""The bank interface (DESIGN §11): instruction files out (送盘), the bank's return files in
(回盘), in bank formats kept as data (``rules/banks/*.toml``).

- :mod:`.formats`: the formats, loaded and validated like rule packs;
- :mod:`.instructions`: a round's instructions and their files (pure);
- :mod:`.returns`: return files read and checked against the instructions;
- :mod:`.run`: ``instruct``, and what ``deduct --returns`` needs of the instructions;
- :mod:`.simulate`: a bank that answers instruction files from a ledger (tests and demos).
"""
