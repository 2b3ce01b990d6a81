"""The browser view: the provisioned Grafana dashboards, drawn where no Grafana runs."""
