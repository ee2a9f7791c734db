from modsys.cli import main

main()
