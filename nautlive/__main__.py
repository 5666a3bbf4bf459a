from nautlive.cli.app import main

main()
