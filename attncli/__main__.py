from attncli.cli.entry import script

script()
