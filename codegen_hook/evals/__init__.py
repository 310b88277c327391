"""Benchmarks of the hook: HumanEval through the same `fill` path a user's stub takes.

`humaneval` runs the tasks, `results` keeps and summarises what each task scored,
`report` renders the HTML report. Hidden benchmark tests are used only to score.
"""
