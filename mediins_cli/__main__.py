from mediins_cli.entry import main

main()
