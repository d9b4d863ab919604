from pactclient.cli import main

main()
