from negkit.cli import main

main()
