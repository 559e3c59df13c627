"""icpwatch: the one command that composes registry, crawler, monitor, reports and sandbox.

Only ``icpwatch.cli`` imports the other packages; ``icpwatch.clikit`` is a leaf that every
package's command group may use (options and output helpers shared by all sub-commands).
"""

__version__ = "0.1.0"
