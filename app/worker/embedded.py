"""`python -m app.worker.embedded`: the worker the API starts for itself."""

from app.worker.consumer import embedded_main

if __name__ == "__main__":
    embedded_main()
