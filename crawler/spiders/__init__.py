"""The crawler's spiders: ``homepage`` (domains, URLs and addresses) and ``iprange`` (CIDR blocks).

Both observe and record; neither knows anything of the registry (DESIGN.md §3).
"""
