"""Organizations, teams, projects and client keys as Sentry's web API manages them.

A slug Sentry derives from a name is made unique the way its ``slugify_instance`` makes it (a
short random suffix), while a slug the client chose is taken as given (or refused by the API); a
project's old slug keeps leading to it (Sentry's ``ProjectRedirect``); project ids are never
reused; deleting a project deletes its issues, events and keys; deleting a team leaves its
projects without one. The fake's one user owns every organization and is on every team it made.
"""

from __future__ import annotations

import itertools
import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable

from sentry_daemon.store.records import Organization, OrganizationMember, Project, ProjectKey, Team, User

if TYPE_CHECKING:
    from sentry_daemon.store.store import Store

ORG_SLUG = re.compile(r"^(?![0-9]+$)[a-zA-Z0-9][a-zA-Z0-9-]*(?<!-)$")
RESERVED_ORGANIZATION_SLUGS = frozenset((
    "404", "500", "_admin", "_experiment", "_static", "about", "accept", "access", "account", "accountspayable",
    "acl", "admin", "answers", "ap", "api", "app", "at", "au1", "auth", "authentication", "avatar", "billing",
    "blog", "branding", "careers", "client", "clients", "community", "contact", "corp", "customers", "de",
    "debug", "devinfra", "docs", "enterprise", "eu", "events", "expenses", "ext", "extension", "extensions",
    "features", "finance", "for", "from", "get-cli", "github-deployment-gate", "guide", "help", "ingest",
    "ingest-beta", "integration-platform", "integrations", "invoice", "invoices", "ja", "jobs", "legal", "login",
    "logout", "lp", "mail", "manage", "my", "onboarding", "organization-avatar", "organizations", "out",
    "payment", "payments", "platforms", "plugins", "policy", "pricing", "privacy", "project-avatar", "projects",
    "receipt", "receipts", "referrals", "register", "remote", "resources", "sa1", "sales", "security",
    "sentry-apps", "settings", "signup", "sponsorship", "ssh", "sso", "staff", "subscribe", "support", "syntax",
    "syntaxfm", "team-avatar", "teams", "terms", "thanks", "themonitor", "trust", "us", "vs", "welcome",
))
RESERVED_PROJECT_SLUGS = frozenset((
    "$all", "api-keys", "audit-log", "auth", "members", "projects", "rate-limits", "repos", "settings", "teams",
    "billing", "payments", "legal", "subscription", "support", "integrations", "developer-settings", "usage",
))
# Sentry's GETTING_STARTED_DOCS_PLATFORMS: what ``Project.is_valid_platform`` accepts (and "other")
PLATFORMS = frozenset((
    "android", "apple", "apple-ios", "apple-macos", "bun", "capacitor", "cloudflare-pages", "cloudflare-workers",
    "cordova", "dart", "deno", "dotnet", "dotnet-aspnet", "dotnet-aspnetcore", "dotnet-awslambda",
    "dotnet-gcpfunctions", "dotnet-maui", "dotnet-uwp", "dotnet-winforms", "dotnet-wpf", "dotnet-xamarin",
    "electron", "elixir", "flutter", "go", "go-echo", "go-fasthttp", "go-fiber", "go-gin", "go-http", "go-iris",
    "go-martini", "go-negroni", "ionic", "java", "java-log4j2", "java-logback", "java-spring", "java-spring-boot",
    "javascript", "javascript-angular", "javascript-astro", "javascript-ember", "javascript-gatsby",
    "javascript-nextjs", "javascript-react", "javascript-remix", "javascript-solid", "javascript-solidstart",
    "javascript-svelte", "javascript-sveltekit", "javascript-nuxt", "javascript-vue", "kotlin", "minidump",
    "native", "native-qt", "nintendo-switch", "node", "node-awslambda", "node-azurefunctions", "node-connect",
    "node-express", "node-fastify", "node-gcpfunctions", "node-hapi", "node-koa", "node-nestjs", "php",
    "php-laravel", "php-symfony", "powershell", "python", "python-aiohttp", "python-asgi", "python-awslambda",
    "python-bottle", "python-celery", "python-chalice", "python-django", "python-falcon", "python-fastapi",
    "python-flask", "python-gcpfunctions", "python-pylons", "python-pymongo", "python-pyramid", "python-quart",
    "python-rq", "python-sanic", "python-serverless", "python-starlette", "python-tornado", "python-tryton",
    "python-wsgi", "react-native", "ruby", "ruby-rack", "ruby-rails", "rust", "unity", "unreal", "other",
))
KEEP = object()  # ``update_key``: leave the field as it is
_SUFFIX_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"
# (attempts, suffix length), as ``slugify_instance`` tries them
_SUFFIX_TRIES = ((1, 2), (5, 3), (20, 5), (1, 12))


def slugify(text: str) -> str:
    """Django's ``slugify``: ASCII, lower case, punctuation dropped, spaces and dashes to one dash."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text.lower())
    return re.sub(r"[-\s]+", "-", text).strip("-_")


def unique_slug(label: str, taken: Callable[[str], bool], reserved: Iterable[str] = (), max_length: int = 50) -> str:
    """Sentry's ``slugify_instance``: the label's slug, or with a random suffix when that one is
    taken, reserved or all digits (no slug may be); a label with no slug gets a random one."""
    base = slugify(label)[:max_length].strip("-")
    if not base or base in reserved:
        base = secrets.token_hex(6)

    def free(value: str) -> bool:
        return not value.isdecimal() and not taken(value)

    if free(base):
        return base
    for attempts, size in _SUFFIX_TRIES:
        for _ in range(attempts):
            value = base[: max_length - size - 1] + "-" + "".join(secrets.choice(_SUFFIX_CHARS) for _ in range(size))
            if free(value):
                return value
    raise RuntimeError("no free slug")  # 36**12 tries would have to collide


def valid_platform(value: str | None) -> bool:
    return not value or value in PLATFORMS


@dataclass(frozen=True)
class ProjectFacts:
    """What a project's serializers read from the rest of the store."""

    environments: tuple[str, ...]
    latest_release: str | None
    categories: frozenset[str]  # data categories ingest accepted for the project
    has_monitors: bool
    has_releases: bool
    security_token: str


class OrgStore:
    """The organization, team, project and key changes the web API makes (owned by ``Store``)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.redirects: dict[tuple[int, str], Project] = {}  # (org id, old slug) -> project
        self.deleted_keys: set[str] = set()
        self._members: dict[int, OrganizationMember] = {}
        self._member_ids = itertools.count(1)
        self._environment_ids: dict[tuple[int, str], int] = {}
        self._highest_project_id = 0

    # --- organizations and members ----------------------------------------------------------

    def org_slug_taken(self, slug: str, exclude: Organization | None = None) -> bool:
        return any(o.slug.lower() == slug.lower() and o is not exclude for o in self._store.organizations.values())

    def create_organization(self, name: str, slug: str | None = None, consent: bool = False) -> Organization:
        """Without a slug, one is derived from the name as ``Organization.save`` derives it
        (underscores become dashes, 30 characters at most); ``consent``: the creator's
        ``aggregatedDataConsent``."""
        if slug is None:
            label = name.lower().replace("_", "-").strip("-")
            slug = unique_slug(label, self.org_slug_taken, RESERVED_ORGANIZATION_SLUGS, max_length=30)
        org = self._store.create_organization(slug, name)
        if consent:
            org.settings["aggregatedDataConsent"] = True
        self.member(org)
        return org

    def member(self, org: Organization) -> OrganizationMember:
        """The user's (owner) membership, made when first needed for organizations the seed made."""
        found = self._members.get(org.id)
        if found is None:
            found = OrganizationMember(next(self._member_ids), org, self._store.user, "owner", org.date_created)
            self._members[org.id] = found
        return found

    def update_organization(self, org: Organization, changes: dict[str, Any]) -> None:
        """Apply a validated PUT: ``name``, ``slug`` and the settings the serializer reads."""
        changes = dict(changes)
        if "name" in changes:
            org.name = changes.pop("name")
        slug = changes.pop("slug", None)
        if slug is not None and slug != org.slug:
            store = self._store
            store.organizations.pop(org.slug, None)
            for key in [k for k, team in store.teams.items() if team.organization is org]:
                team = store.teams.pop(key)
                store.teams[(slug, team.slug)] = team
            org.slug = slug
            store.organizations[slug] = org
        org.settings.update(changes)

    # --- teams ------------------------------------------------------------------------------

    def team_slug_taken(self, org: Organization, slug: str, exclude: Team | None = None) -> bool:
        return any(t.organization is org and t.slug.lower() == slug.lower() and t is not exclude
                   for t in self._store.teams.values())

    def org_teams(self, org: Organization) -> list[Team]:
        return sorted((t for t in self._store.teams.values() if t.organization is org), key=lambda t: t.slug)

    def create_team(self, org: Organization, name: str, slug: str | None, member: User | None) -> Team:
        """``Conflict`` when the slug given is taken; a slug derived from the name never is."""
        if slug is None:
            slug = unique_slug(name, lambda value: self.team_slug_taken(org, value))
        team = self._store.create_team(org, slug, name)
        if member is not None:
            team.member_ids.add(member.id)
        return team

    def update_team(self, team: Team, name: str | None = None, slug: str | None = None) -> None:
        if name is not None:
            team.name = name
        if slug is not None and slug != team.slug:
            teams = self._store.teams
            teams.pop((team.organization.slug, team.slug), None)
            team.slug = slug
            teams[(team.organization.slug, slug)] = team

    def delete_team(self, team: Team) -> None:
        """Sentry deletes any team; its projects stay, without it."""
        self._store.teams.pop((team.organization.slug, team.slug), None)
        for project in self._store.projects.values():
            if project.team is team:
                project.team = None

    def personal_team(self, org: Organization, user: User) -> Team:
        """``team-<email user part>`` for the user, a random suffix when taken (the organization-level
        project creation of ``OrganizationProjectsExperimentEndpoint``)."""
        base = f"team-{slugify(user.email.partition('@')[0])}"
        slug = base
        while self.team_slug_taken(org, slug):
            slug = f"{base}-{''.join(secrets.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(3))}"
        return self.create_team(org, slug, slug, user)

    # --- projects ---------------------------------------------------------------------------

    def project_slug_taken(self, org: Organization, slug: str, exclude: Project | None = None) -> bool:
        return any(p.organization is org and p.slug.lower() == slug.lower() and p is not exclude
                   for p in self._store.projects.values())

    def create_project(self, org: Organization, name: str, *, slug: str | None = None,
                       platform: str | None = None, team: Team | None = None) -> Project:
        """A project with its default key; ``Conflict`` when the slug given is taken."""
        store = self._store
        if slug is None:
            slug = unique_slug(name, lambda value: self.project_slug_taken(org, value), RESERVED_PROJECT_SLUGS)
        project = store.create_project(org, name, slug=slug, platform=platform or None, team=team,
                                       project_id=self.next_project_id())
        store.create_key(project)
        return project

    def next_project_id(self) -> int:
        """The id a new project gets: ids are never reused, not even a deleted project's."""
        return max(self._highest_project_id, max(self._store.projects, default=0)) + 1

    def project_by_old_slug(self, org: Organization, slug: str) -> Project | None:
        project = self.redirects.get((org.id, slug))
        return project if project is not None and project.id in self._store.projects else None

    def update_project(self, project: Project, changes: dict[str, Any], user: User | None) -> None:
        """Apply a validated PUT; a new slug leaves the old one redirecting (``ProjectRedirect.record``)."""
        changes = dict(changes)
        slug = changes.pop("slug", None)
        if slug and slug != project.slug:
            self.redirects[(project.organization.id, project.slug)] = project
            project.slug = slug
        name = changes.pop("name", None)
        if name:
            project.name = name
        platform = changes.pop("platform", None)
        if platform:
            project.platform = platform
        bookmarked = changes.pop("isBookmarked", None)
        if user is not None and bookmarked is not None:
            (project.bookmarked_by.add if bookmarked else project.bookmarked_by.discard)(user.id)
        project.options.update(changes)

    def delete_project(self, project: Project) -> None:
        store = self._store
        self._highest_project_id = max(self._highest_project_id, project.id)
        store.projects.pop(project.id, None)
        for key in store.project_keys(project):
            self.delete_key(key)
        store.issues.delete(store.issues.of_project(project))
        store.forget_events(list(store.project_events(project)))
        store.monitors.forget_project(project)
        store.releases.forget_project(project)
        store.uploads.forget_project(project)
        for old, target in list(self.redirects.items()):
            if target is project:
                del self.redirects[old]

    def forget_organization(self, org: Organization) -> None:
        """An organization removed with its data (``store.tenants``): its teams, membership,
        environment ids and old project slugs go too."""
        teams = self._store.teams
        for key in [k for k, team in teams.items() if team.organization is org]:
            del teams[key]
        self._members.pop(org.id, None)
        for key in [k for k in self._environment_ids if k[0] == org.id]:
            del self._environment_ids[key]
        for key in [k for k in self.redirects if k[0] == org.id]:
            del self.redirects[key]

    # --- client keys ------------------------------------------------------------------------

    def create_key(self, project: Project, label: str | None, public: str | None = None,
                   secret: str | None = None, rate_limit: tuple[int, int] | None = None) -> ProjectKey:
        key = self._store.create_key(project, public=public, label=label or _pet_name())
        if secret:
            key.secret = secret
        key.rate_limit = rate_limit
        self.deleted_keys.discard(key.public)
        return key

    def update_key(self, key: ProjectKey, *, browser_sdk_version: str | None, loader_options: dict[str, bool],
                   label: str | None = None, is_active: bool | None = None,
                   rate_limit: tuple[int, int] | None | object = KEEP) -> None:
        """A validated PUT: the browser SDK version always (None: back to the default), the loader
        options given merged in; ``label`` and ``is_active`` when not None, ``rate_limit`` unless
        ``KEEP`` (None removes the limit)."""
        key.browser_sdk_version = browser_sdk_version
        key.loader_options.update(loader_options)
        if label is not None:
            key.label = label
        if is_active is not None:
            key.is_active = is_active
        if rate_limit is not KEEP:
            key.rate_limit = rate_limit  # type: ignore[assignment]

    def delete_key(self, key: ProjectKey) -> None:
        """The key stops working at once (strict ingest refuses it) and lenient ingest does not bring
        it back: a deleted key stays deleted."""
        self._store.keys.pop(key.public, None)
        self.deleted_keys.add(key.public)

    # --- what serializers read --------------------------------------------------------------

    def environment_id(self, org: Organization, name: str) -> int:
        """Environments are the organization's (Sentry's ``Environment``); ids are handed out on first sight."""
        key = (org.id, name)
        if key not in self._environment_ids:
            self._environment_ids[key] = len(self._environment_ids) + 1
        return self._environment_ids[key]

    def facts(self, projects: Iterable[Project]) -> dict[int, ProjectFacts]:
        """Per project, from small indexes (its latest release, the categories it had accepted):
        a project list costs what it shows, not what the store holds."""
        store = self._store
        monitored = {m.project.id for m in store.monitors.values()}
        result = {}
        for p in projects:
            latest = store.latest_release({p.id})
            result[p.id] = ProjectFacts(
                environments=tuple(sorted(p.environments)),
                latest_release=latest.version if latest is not None else None,
                categories=store.outcomes.accepted_categories(p.id),
                has_monitors=p.id in monitored,
                has_releases=latest is not None,
                security_token=p.options.get("securityToken", ""),
            )
        return result


_ADJECTIVES = ("Able", "Bold", "Brave", "Calm", "Clever", "Eager", "Fair", "Gentle", "Happy", "Keen", "Kind",
               "Lively", "Proud", "Quick", "Quiet", "Sharp", "Steady", "Swift", "Warm", "Wise")
_ANIMALS = ("Badger", "Beaver", "Crane", "Falcon", "Ferret", "Gecko", "Heron", "Ibis", "Jaguar", "Koala",
            "Lemur", "Lynx", "Marten", "Otter", "Panda", "Puffin", "Raven", "Seal", "Tapir", "Wombat")


def _pet_name() -> str:
    """A key created without a name is named as ``ProjectKey.save`` names it: two random words."""
    return f"{secrets.choice(_ADJECTIVES)} {secrets.choice(_ANIMALS)}"
