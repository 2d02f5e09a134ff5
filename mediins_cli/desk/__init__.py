"""The operator's desk (DESIGN §13): what an output folder holds, told to people.

- :mod:`~mediins_cli.desk.history`: the months and runs of an output folder, read from their
  run directories (summaries and manifests, checked as the rerun rules check them), and what
  comes next by the rule pack's schedule. Nothing is computed again.
- :mod:`~mediins_cli.desk.status`: ``mediins status`` on the terminal and as JSON.
- :mod:`~mediins_cli.desk.charts`: the report's charts, drawn by matplotlib as inline SVG
  (imported only by ``mediins report``).
- :mod:`~mediins_cli.desk.monthly`: ``mediins report``: one self-contained HTML page a month.
"""
