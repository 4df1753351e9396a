"""The web interface: server-rendered pages (Jinja2 + htmx + Pico CSS) over the same services as
the JSON API. No business rule lives here: pages validate with the API's schemas, call the domain
services and render what they answer. All static files ship inside this package."""
