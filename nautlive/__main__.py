from nautlive.cli import main

main()
