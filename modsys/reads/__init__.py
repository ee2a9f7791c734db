"""Read models: what each page, the API and the exports show, scoped like the services."""
