from mediins_cli.cli import main

main()
