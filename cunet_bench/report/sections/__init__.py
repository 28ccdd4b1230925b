"""One module per section of REPORT.md, in the report's order, over the kernel of ``report``: the
rules (verdicts, plateau, convergence), the claims, the Markdown, the results and the figures."""
