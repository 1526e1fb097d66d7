from reelfix.cli import main

main()
