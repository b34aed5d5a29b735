"""Deployable agents: trained bundles acting one step at a time for many episodes (no web code)."""
