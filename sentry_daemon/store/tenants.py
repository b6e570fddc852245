"""Tenants: one organization per test, made and removed in well under a millisecond.

A tenant is an organization with one team, one project, one DSN key and one org-bound token that
has every scope (``Store.add_token(..., kind="org", organization=org)``): the web API's own
organization rule (``api.org``: another organization is 403) keeps each tenant's token inside it,
and everything sent to its DSN lands in its project. Removing an organization removes its data
through the per-project indexes the store keeps, so it costs what the tenant holds (plus a pass
over the small tables of organizations' entities: projects, keys, teams, tokens, releases), never
a pass over every event. Resetting a tenant removes it and makes it again with the same ids, slugs,
DSN key and token value, so nothing of its past survives and its clients need no new settings.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sentry_daemon.store.organizations import slugify
from sentry_daemon.store.records import Organization, Project, ProjectKey, Team, Token
from sentry_daemon.store.tokens import SCOPES, org_token_value

if TYPE_CHECKING:
    from sentry_daemon.store.store import Store

MAX_NAME = 64
_SLUG_BASE = 30


@dataclass
class Tenant:
    """A tenant and what was made for it; ``id`` is what ``?tenant=`` and the routes take."""

    id: str
    name: str | None
    organization: Organization
    team: Team
    project: Project
    key: ProjectKey
    token: Token
    date_created: float


class TenantStore:
    """The tenants of a running sentryfake (owned by ``Store``; a global reset forgets them)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.by_id: dict[str, Tenant] = {}
        self._by_org: dict[int, Tenant] = {}

    def values(self) -> list[Tenant]:
        return list(self.by_id.values())

    def get(self, tenant_id: str) -> Tenant | None:
        return self.by_id.get(tenant_id)

    def of_organization(self, org: Organization) -> Tenant | None:
        return self._by_org.get(org.id)

    def create(self, name: str | None = None, base_url: str | None = None) -> Tenant:
        """A fresh organization, team, project, key and full-scope org token, all unique.

        The slugs are the name's (``tenant`` without one) with the tenant id after it; the token is
        an org auth token naming the organization and ``base_url``, so sentry-cli needs nothing else.
        """
        store = self._store
        stem = slugify(name or "")[:_SLUG_BASE].strip("-")
        base = stem or "tenant"
        while True:
            tenant_id = secrets.token_hex(4)
            slug = f"{base}-{tenant_id}"
            if tenant_id not in self.by_id and slug not in store.organizations:
                break
        return self._make(tenant_id, name, slug, name or slug, stem or "project",
                          project_id=store.orgs.next_project_id(), org_id=None, key=None,
                          token_value=org_token_value(slug, base_url, store.now()))

    def _make(self, tenant_id: str, name: str | None, slug: str, display: str, project_slug: str, *,
              project_id: int, org_id: int | None, key: tuple[str, str] | None, token_value: str) -> Tenant:
        store = self._store
        org = store.create_organization(slug, display)
        if org_id is not None:  # a reset keeps the organization's id: filters and faults name it
            org.id = org_id
        store.orgs.member(org)
        team = store.create_team(org, slug)
        team.member_ids.add(store.user.id)
        project = store.create_project(org, project_slug, slug=project_slug, team=team, project_id=project_id)
        made_key = store.create_key(project, public=key[0] if key else None)
        if key is not None:
            made_key.secret = key[1]
            store.orgs.deleted_keys.discard(key[0])
        token = store.add_token(token_value, SCOPES, kind="org", name=f"tenant {tenant_id}", organization=org)
        tenant = Tenant(tenant_id, name, org, team, project, made_key, token, store.now())
        self.by_id[tenant_id] = tenant
        self._by_org[org.id] = tenant
        return tenant

    def delete(self, tenant: Tenant) -> None:
        """The tenant and everything of its organization are gone; its token and DSN stop working."""
        self.by_id.pop(tenant.id, None)
        self._by_org.pop(tenant.organization.id, None)
        remove_organization(self._store, tenant.organization)

    def reset(self, tenant: Tenant) -> Tenant:
        """Empty the tenant: its organization made anew with the same ids, DSN key and token."""
        org, project = tenant.organization, tenant.project
        self.delete(tenant)
        return self._make(tenant.id, tenant.name, org.slug, org.name, project.slug, project_id=project.id,
                          org_id=org.id, key=(tenant.key.public, tenant.key.secret),
                          token_value=tenant.token.value)

    def forget_organization(self, org: Organization) -> None:
        tenant = self._by_org.pop(org.id, None)
        if tenant is not None:
            self.by_id.pop(tenant.id, None)


def remove_organization(store: Store, org: Organization) -> None:
    """Remove an organization and all its data: projects (with their events, issues, keys, monitors,
    envelopes, items, attachments, spans, sessions, outcomes, batches, debug files), teams, releases
    and repositories, uploads, tokens bound to it, its membership, its faults and near misses. Its
    deleted keys stay refused."""
    projects = store.org_projects(org)
    store.faults.clear(org)  # while the tenant still names it
    store.journal.clear(org)
    for project in projects:
        store.orgs.delete_project(project)
        store.forget_captured(project)
    project_ids = {p.id for p in projects}
    store.outcomes.forget_projects(project_ids)
    store.batches.forget_projects(project_ids)
    store.releases.forget_organization(org)
    store.uploads.forget_organization(org, project_ids)
    store.orgs.forget_organization(org)
    for value in [v for v, t in store.tokens.items() if t.organization is org]:
        del store.tokens[value]
    store.tenants.forget_organization(org)
    if store.organizations.get(org.slug) is org:
        del store.organizations[org.slug]
    store.record_log.append("organization_removed", org)
