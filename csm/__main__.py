from csm.cli import main

main()
