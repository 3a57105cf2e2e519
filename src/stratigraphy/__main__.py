from stratigraphy.cli import main

main()
