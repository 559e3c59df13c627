from icpwatch.cli import main

main(prog_name="icpwatch")
