from streamdash.cli import main

main()
