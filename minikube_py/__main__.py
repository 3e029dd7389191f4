from minikube_py.cli.main import main

main()
