"""Admin area `/admin`: accounts, the identity mapping assistant, pricing overrides, people
and roles. Admins only (403 for members), every POST carries the CSRF token and answers with
a 303 redirect and a notice, or the page again with the error and status 400.

Credentials are write-only: forms take them, pages only say whether some are stored.
CSV upload and sync buttons live on the status blueprint (`/admin/upload`, `/admin/sync`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user

from ..analytics import admin as data
from ..analytics.bots import bot_rows
from ..extensions import db
from ..models import ROLES, Account, User
from ..people import access_log as access_records
from ..people import identities
from ..people import users as user_service
from ..people.users import CannotDeactivate, LastAdmin
from ..providers import UnknownProvider, get_provider, providers
from ..sync import account_rows
from ..sync.accounts import (
    AccountError,
    CredentialsUnreadable,
    add_account,
    check_url,
    decrypt_credentials,
    set_credentials,
    set_enabled,
    update_settings,
)
from ..usage.exclusions import excluded_usage
from ..usage.pricing import FAR_PAST, canonical_model
from ..usage.pricing_overrides import remove_override, set_override
from . import htmx, params
from .access import admin_required

bp = Blueprint("admin", __name__, url_prefix="/admin")

# Settings the add form offers (the edit page offers all of accounts.EDITABLE_SETTINGS).
ADD_SETTINGS = ("org", "enterprise", "owner_email", "proxy_url", "base_url", "workspace_id",
                "usd_per_credit")
SETTING_LABELS = {
    "owner_email": ("Owner e-mail", "Whose seat this is (Cursor seats): usage is theirs."),
    "proxy_url": ("Proxy URL", "http://user:password@host:port, for this account's requests."),
    "base_url": ("Base URL", "Only to point at another API host (a gateway, a test server)."),
    "team_id": ("Team id", "Cursor: which team the seat's dashboard calls use."),
    "org": ("GitHub organization", "GitHub Copilot: the organization whose reports it reads."),
    "enterprise": ("GitHub enterprise", "GitHub Copilot: the enterprise slug, instead of an "
                   "organization (enterprise-wide reports and billing)."),
    "min_request_interval": ("Seconds between requests",
                             "Slow down below the provider's rate limit."),
    "workspace_id": ("Workspace id", "Codex: the ChatGPT workspace id (admin console → "
                     "workspace settings)."),
    "usd_per_credit": ("USD per credit", "Codex: dollars per credit (default 0.04, i.e. 25 "
                       "credits = $1; your contract may differ)."),
    "excluded": ("Excluded from totals",
                 "Key hashes, member ids or e-mails, separated by commas: their usage stays "
                 "stored but counts nowhere (e.g. an OpenRouter key a tool routes through "
                 "that is already counted from the tool's own source)."),
}
PRICE_FIELDS = (("input", "Input"), ("output", "Output"), ("cache_write", "Cache write"),
                ("cache_read", "Cache read"))
# May be blank: the model has no such tier (stored as NULL; such tokens cost the input price).
TIER_FIELDS = ("cache_write", "cache_read")
# Optional: blank means Anthropic's rule, 2x the input price.
PRICE_FIELD_1H = ("cache_write_1h", "Cache write (1 hour)")
MAX_PRICE = Decimal("999999.999999")  # NUMERIC(12, 6)


@bp.before_request
@admin_required
def _admins_only() -> None:
    """Every route here, including ones added later, answers 403 to members."""


def _refused(body: str, status: int, section: str) -> Response:
    """A form sent back with what is wrong. For htmx only the form's section is swapped, so
    the error appears where the admin is looking instead of the page jumping to its top."""
    response = make_response(body, status)
    if request.headers.get("HX-Request") == "true":
        response.headers.update({"HX-Retarget": f"#{section}", "HX-Reselect": f"#{section}",
                                 "HX-Reswap": "outerHTML"})
    return response


# --- index --------------------------------------------------------------------------------

@bp.get("")
def index() -> ResponseReturnValue:
    return render_template("admin/index.html", section="index",
                           counts=data.counts(account_rows.account_rows()))


# --- accounts ---------------------------------------------------------------------------------

def _provider_choices() -> list[Any]:
    return sorted(providers().values(), key=lambda p: p.display_name)


def _chosen_provider(provider_id: str | None):
    choices = _provider_choices()
    if provider_id:
        try:
            return get_provider(provider_id)
        except UnknownProvider:
            pass
    return choices[0]


def _accounts_page(form: dict[str, str] | None = None, error: str | None = None,
                   status: int = 200) -> ResponseReturnValue:
    form = form or {}
    body = render_template(
        "admin/accounts.html", section="accounts", accounts=account_rows.account_rows(),
        choices=_provider_choices(), provider=_chosen_provider(form.get("provider")),
        form=form, error=error, add_settings=ADD_SETTINGS, labels=SETTING_LABELS)
    return _refused(body, status, "add-account") if error else body


@bp.get("/accounts")
def accounts() -> ResponseReturnValue:
    return _accounts_page({"provider": request.args.get("provider", "")})


@bp.get("/accounts/fields")
def account_fields() -> ResponseReturnValue:
    """The chosen provider's credential fields (the add form swaps them in)."""
    if not htmx.wants_fragment():
        return redirect(url_for(".accounts", provider=request.args.get("provider")))
    return render_template("admin/_credential_fields.html",
                           provider=_chosen_provider(request.args.get("provider")))


@bp.post("/accounts")
def create_account() -> ResponseReturnValue:
    f = request.form
    # Echoed back on an error: never a credential.
    form = {k: f.get(k, "").strip() for k in ("provider", "name", *ADD_SETTINGS)}
    try:
        provider = get_provider(form["provider"])
    except UnknownProvider:
        return _accounts_page(form, "Choose a provider.", 400)
    if not form["name"]:
        return _accounts_page(form, "Give the account a name (say, the team or seat).", 400)
    if len(form["name"]) > 128:
        return _accounts_page(form, "The name is too long (128 characters at most).", 400)
    credentials = provider.prepare_credentials(
        {c.name: f.get(f"credential_{c.name}", "") for c in provider.credential_fields})
    settings = {k: form[k] for k in ADD_SETTINGS if form[k]}
    if "owner_email" in settings:
        settings["owner_email"] = settings["owner_email"].lower()
    try:
        account = add_account(provider.id, form["name"], credentials, settings)
        db.session.commit()
    except AccountError as exc:
        db.session.rollback()
        # The form comes back without the proxy password: it is a credential too.
        if form["proxy_url"]:
            form["proxy_url"] = _without_password(form["proxy_url"])
        return _accounts_page(form, _sentence(str(exc)), 400)
    now = (" or right away with “Sync now”" if "status.sync_now" in current_app.view_functions
           else "")
    flash(f"Added {provider.display_name} account “{account.name}”. It syncs on its "
          f"schedule{now}.", "ok")
    return redirect(url_for(".account", account_id=account.id), code=303)


def _without_password(url: str) -> str:
    """A proxy URL to put back in the form: without its password, or nothing when it is too
    malformed to tell where a password would be."""
    try:
        check_url("proxy_url", url)
    except AccountError:
        return ""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{userinfo.partition(':')[0]}@{hostport}"))


def _account_or_404(account_id: int) -> Account:
    account = db.session.get(Account, account_id)
    if account is None:
        abort(404)
    return account


def _provider_or_none(provider_id: str):
    try:
        return get_provider(provider_id)
    except UnknownProvider:
        return None


def _account_page(account: Account, error: str | None = None, error_form: str | None = None,
                  status: int = 200) -> ResponseReturnValue:
    try:
        provider = get_provider(account.provider)
    except UnknownProvider:
        provider = None
    settings = dict(account.settings or {})
    settings["excluded"] = ", ".join(settings.get("excluded") or [])
    body = render_template(
        "admin/account.html", section="accounts", account=account_rows.account_row(account.id),
        provider=provider, settings=settings, labels=SETTING_LABELS,
        excluded=excluded_usage(account),
        proxy_masked=(account_rows.mask_url(settings["proxy_url"])
                      if settings.get("proxy_url") else ""),
        error=error, error_form=error_form)
    return _refused(body, status, f"account-{error_form}") if error else body


@bp.get("/accounts/<int:account_id>")
def account(account_id: int) -> ResponseReturnValue:
    return _account_page(_account_or_404(account_id))


@bp.post("/accounts/<int:account_id>/settings")
def account_settings(account_id: int) -> ResponseReturnValue:
    account = _account_or_404(account_id)
    f = request.form
    changes: dict[str, Any] = {k: f.get(k, "").strip() for k in SETTING_LABELS
                               if k != "proxy_url"}
    # The proxy URL may hold a password, so it is never shown again: empty keeps it.
    if f.get("clear_proxy_url"):
        changes["proxy_url"] = ""
    elif f.get("proxy_url", "").strip():
        changes["proxy_url"] = f["proxy_url"].strip()
    if changes.get("owner_email"):
        changes["owner_email"] = changes["owner_email"].lower()
    interval = changes.get("min_request_interval")
    if interval:
        try:
            changes["min_request_interval"] = float(interval)
            if not 0 <= changes["min_request_interval"] <= 3600:
                raise ValueError
        except ValueError:
            return _account_page(account, "Seconds between requests must be a number from 0 "
                                 "to 3600.", "settings", 400)
    credentials = None
    provider = _provider_or_none(account.provider)
    if provider is not None:
        entered = {c.name: f.get(f"credential_{c.name}", "") for c in provider.credential_fields}
        if any(v.strip() for v in entered.values()):
            credentials = provider.prepare_credentials(entered)
    try:
        update_settings(account, changes, credentials)
        db.session.commit()
    except AccountError as exc:
        db.session.rollback()
        return _account_page(_account_or_404(account_id), _sentence(str(exc)), "settings", 400)
    again = " and its credentials" if credentials else ""
    flash(f"Saved the settings{again} of “{account.name}”.", "ok")
    return redirect(url_for(".account", account_id=account.id), code=303)


@bp.post("/accounts/<int:account_id>/credentials")
def account_credentials(account_id: int) -> ResponseReturnValue:
    account = _account_or_404(account_id)
    try:
        provider = get_provider(account.provider)
    except UnknownProvider:
        abort(404)
    entered = {c.name: request.form.get(f"credential_{c.name}", "")
               for c in provider.credential_fields}
    entered = {k: v for k, v in entered.items() if v.strip()}
    if not entered:
        flash("Nothing changed: every field was empty, and an empty field keeps what is "
              "stored.", "warn")
        return redirect(url_for(".account", account_id=account.id), code=303)
    try:
        current = decrypt_credentials(account)
    except CredentialsUnreadable:
        current = {}  # the fields entered now must then be complete (checked below)
    was = account.status
    try:
        set_credentials(account, provider.prepare_credentials({**current, **entered}))
        db.session.commit()
    except AccountError as exc:
        db.session.rollback()
        return _account_page(_account_or_404(account_id), _sentence(str(exc)), "credentials",
                             400)
    resumed = " The account is active again." if was != account.status else ""
    flash(f"Replaced the credentials of “{account.name}”.{resumed}", "ok")
    return redirect(url_for(".account", account_id=account.id), code=303)


@bp.post("/accounts/<int:account_id>/enabled")
def account_enabled(account_id: int) -> ResponseReturnValue:
    account = _account_or_404(account_id)
    enable = request.form.get("enabled") == "1"
    set_enabled(account, enable)
    db.session.commit()
    state = ("enabled: it syncs on its schedule again" if enable
             else "disabled: it stops syncing, its data stays")
    flash(f"“{account.name}” is {state}.", "ok")
    return redirect(url_for(".account", account_id=account.id), code=303)


# --- identity mapping assistant --------------------------------------------------------------

def _identities_page(status: int = 200, section: str | None = None,
                     **extra: Any) -> ResponseReturnValue:
    q = params.text("q")
    unmapped = data.unmapped_identities(domains=current_app.config["ABACUS"].allowed_domains)
    error = extra.get("assign_error")
    if error:  # the identity's own item holds the error (a mapped one's: the mappings card)
        section = next((f"unmapped-{i}" for i, u in enumerate(unmapped, 1)
                        if (u.provider, u.actor) == (error["provider"], error["actor"])),
                       "mappings")
    context = dict(section="identities", unmapped=unmapped, mappings=data.mapping_page(q),
                   commit_authors=data.unmapped_commit_authors(),
                   people=data.known_people(), q=q, assign_error=None, merge_error=None,
                   merge_form={}, bots=bot_rows(), bot_error=None)
    context.update(extra)
    body = htmx.render("admin/identities.html", "admin/_mappings.html", **context)
    return _refused(body, status, section) if section else (body, status)


@bp.get("/identities")
def identities_page() -> ResponseReturnValue:
    return _identities_page()


@bp.post("/identities/assign")
def assign_identity() -> ResponseReturnValue:
    provider = request.form.get("provider", "")
    external_id = request.form.get("external_id", "")
    email = request.form.get("email", "").strip().lower()
    if not provider or not external_id or len(provider) > 64 or len(external_id) > 255:
        abort(400)  # the form always sends both, from a listed identity
    error = _email_problem(email)
    if error:
        return _identities_page(400, assign_error={"provider": provider, "actor": external_id,
                                                   "email": email, "message": error})
    outside = _outside_domains(email)
    if outside and request.form.get("confirm_outside") != "1":
        # A second step: an address nobody can sign in with is usually a typo or a personal
        # address. Nothing is saved until the admin ticks the box and assigns again.
        return _identities_page(400, assign_error={
            "provider": provider, "actor": external_id, "email": email, "confirm": True,
            "message": f"{outside} is not one of your domains (ALLOWED_DOMAINS), so this "
                       "person cannot sign in to see their usage. Tick the box to assign "
                       "anyway."})
    moved = identities.assign(provider, external_id, email, assigned_by=current_user.email)
    db.session.commit()
    what = "commit" if provider == identities.GITHUB else "event"
    flash(f"{external_id} is now {email}: {moved:,} {what}{'s' if moved != 1 else ''} "
          "re-attributed. Change or remove it under Mappings.", "ok")
    return redirect(url_for(".identities_page"), code=303)


def _outside_domains(email: str) -> str | None:
    """The address's domain when it is outside ALLOWED_DOMAINS (None: inside, or no domain
    is configured to compare with)."""
    domains = current_app.config["ABACUS"].allowed_domains
    domain = email.rpartition("@")[2]
    return domain if domains and domain not in domains else None


@bp.post("/identities/unassign")
def unassign_identity() -> ResponseReturnValue:
    """Remove a mapping: the usage goes back to the identity, shown as unmapped again."""
    provider = request.form.get("provider", "")
    external_id = request.form.get("external_id", "")
    if not provider or not external_id or len(provider) > 64 or len(external_id) > 255:
        abort(400)
    removed = identities.unassign(provider, external_id)
    if removed is None:
        db.session.rollback()
        flash(f"{external_id} has no mapping (already removed?).", "warn")
        return redirect(url_for(".identities_page"), code=303)
    db.session.commit()
    email, moved = removed
    flash(f"Removed the mapping of {external_id} to {email}: {moved:,} record"
          f"{'s' if moved != 1 else ''} moved back to {external_id}, unmapped again.", "ok")
    return redirect(url_for(".identities_page"), code=303)


@bp.post("/identities/bots")
def mark_bot() -> ResponseReturnValue:
    """Mark an identity (or an address) as a bot or service account, or (remove=1) count it
    as a person again."""
    person = request.form.get("person", "").strip()
    if request.form.get("remove") == "1":
        if identities.unmark_bot(person):
            db.session.commit()
            flash(f"{person} counts as a person again.", "ok")
        else:
            flash(f"{person} is not marked as a bot.", "warn")
        return redirect(url_for(".identities_page"), code=303)
    try:
        added = identities.mark_bot(person, current_user.email)
    except ValueError:
        return _identities_page(400, "bots", bot_error="Enter the identity or address of the "
                                "bot, as the pages show it (say ci-deploy-key or "
                                "ci@company.com).")
    db.session.commit()
    flash(f"{person} is marked as a bot: its usage is kept and shown apart, and it no longer "
          "counts as a person." if added else f"{person} already is a bot.",
          "ok" if added else "warn")
    return redirect(url_for(".identities_page"), code=303)


@bp.post("/identities/merge")
def merge_identities() -> ResponseReturnValue:
    form = {k: request.form.get(k, "").strip().lower() for k in ("old_email", "new_email")}
    error = _email_problem(form["old_email"]) or _email_problem(form["new_email"])
    if not error and form["old_email"] == form["new_email"]:
        error = "Choose two different addresses."
    if not error:
        try:
            result = identities.merge_people(form["old_email"], form["new_email"],
                                             merged_by=current_user.email)
        except ValueError as exc:
            db.session.rollback()
            error = _sentence(str(exc))
    if error:
        return _identities_page(400, "merge", merge_error=error, merge_form=form)
    db.session.commit()
    flash(f"Merged {result.old} into {result.new}: {result.events_moved:,} events moved, "
          f"{result.mappings_repointed + result.mappings_added} mapping"
          f"{'s' if result.mappings_repointed + result.mappings_added != 1 else ''} now point "
          f"at {result.new}.", "ok")
    return redirect(url_for(".identities_page"), code=303)


def _email_problem(email: str) -> str | None:
    local, _, domain = email.partition("@")
    if not email:
        return "Enter the person's e-mail address."
    if email.count("@") != 1 or not local or "." not in domain or any(
            ch.isspace() for ch in email):
        return f"“{email}” is not an e-mail address."
    if len(email) > 255:
        return "That address is too long."
    return None


# --- pricing ----------------------------------------------------------------------------------

# The form as typed (strings, re-shown on errors): like Settings in shape only.
@dataclass
class PriceForm:
    model: str = ""
    input: str = ""
    output: str = ""
    cache_write: str = ""
    cache_read: str = ""
    cache_write_1h: str = ""
    valid_from: str = ""
    note: str = ""


def _pricing_page(form: PriceForm | None = None, errors: dict[str, str] | None = None,
                  status: int = 200) -> ResponseReturnValue:
    overrides = data.override_rows()
    if form is None:
        form = PriceForm()
        model = params.text("model")
        if model:  # "Set price" / "Edit": start from what the model costs now
            source, price = data.price_for(model)
            form.model = model
            if price is not None:
                form.input, form.output = _plain(price.input), _plain(price.output)
                form.cache_write = _plain(price.cache_write)
                form.cache_read = _plain(price.cache_read)
                if price.cache_write_1h is not None:
                    form.cache_write_1h = _plain(price.cache_write_1h)
            if source == "override":
                mine = [o for o in overrides if o.model == model
                        and o.price.valid_from == price.valid_from]
                form.note = (mine[0].note or "") if mine else ""
                if price.valid_from > FAR_PAST:
                    form.valid_from = price.valid_from.isoformat()
    body = render_template("admin/pricing.html", section="pricing", models=data.model_prices(),
                           overrides=overrides, table=data.price_table(), form=form,
                           errors=errors or {}, price_fields=PRICE_FIELDS,
                           tier_fields=TIER_FIELDS,
                           price_field_1h=PRICE_FIELD_1H, rate=rate, far_past=FAR_PAST)
    return _refused(body, status, "price-form") if errors else body


def rate(value: Decimal | None) -> str:
    """A price per 1M tokens to the digit it was set with: $3.00, $0.30, $0.125, $1,250.00;
    "—" for a tier the model does not have."""
    if value is None:
        return "—"
    exact = value.normalize()
    places = max(2, -exact.as_tuple().exponent)
    return f"${value:,.{places}f}"


def _plain(value: Decimal | None) -> str:
    """A price for an input field: 3.000000 → "3", 0.300000 → "0.3", no tier → ""."""
    if value is None:
        return ""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def parse_price(label: str, raw: str) -> tuple[Decimal | None, str | None]:
    """USD per 1M tokens from a form field: (value, None) or (None, what is wrong)."""
    text = raw.strip().removeprefix("$").strip()
    if not text:
        return None, f"{label}: enter a price in USD per 1M tokens (0 if it is free)."
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None, f"{label}: “{raw.strip()}” is not a number; write it like 3 or 0.30."
    if not value.is_finite():
        return None, f"{label}: “{raw.strip()}” is not a number; write it like 3 or 0.30."
    if value < 0:
        return None, f"{label}: a price cannot be negative."
    if value > MAX_PRICE:
        return None, f"{label}: at most {MAX_PRICE:,} USD per 1M tokens."
    if -value.as_tuple().exponent > 6:
        return None, f"{label}: at most 6 decimal places (prices are per 1M tokens)."
    return value, None


@bp.get("/pricing")
def pricing() -> ResponseReturnValue:
    return _pricing_page()


@bp.post("/pricing")
def save_price() -> ResponseReturnValue:
    f = request.form
    form = PriceForm(**{k: f.get(k, "").strip() for k in PriceForm.__dataclass_fields__})
    errors: dict[str, str] = {}
    model = canonical_model(form.model) if form.model else ""
    if not form.model:
        errors["model"] = "Model: enter the model's name, as in the table above."
    elif len(model) > 128:
        errors["model"] = "Model: the name is too long (128 characters at most)."
    prices: dict[str, Decimal] = {}
    for key, label in PRICE_FIELDS:
        if key in TIER_FIELDS and not getattr(form, key):
            continue  # no such tier
        value, problem = parse_price(label, getattr(form, key))
        if problem:
            errors[key] = problem
        else:
            prices[key] = value
    if form.cache_write_1h:
        key, label = PRICE_FIELD_1H
        value, problem = parse_price(label, form.cache_write_1h)
        if problem:
            errors[key] = problem
        else:
            prices[key] = value
    valid_from = None
    if form.valid_from:
        valid_from, problem = parse_day("Valid from", form.valid_from)
        if problem:
            errors["valid_from"] = problem
    if len(form.note) > 500:
        errors["note"] = "Note: 500 characters at most."
    if errors:
        return _pricing_page(form, errors, 400)
    created, result = set_override(model, prices, form.note, current_user.email, valid_from)
    db.session.commit()
    renamed = f" (stored as {model})" if model != form.model else ""
    flash(f"{'Added' if created else 'Updated'} the price of {model}{renamed}. "
          f"{_reestimated(result)}", "ok")
    return redirect(url_for(".pricing"), code=303)


@bp.post("/pricing/delete")
def delete_price() -> ResponseReturnValue:
    model = request.form.get("model", "")
    valid_from = None
    if request.form.get("valid_from"):
        valid_from, problem = parse_day("Valid from", request.form["valid_from"])
        if problem:
            flash(problem, "warn")
            return redirect(url_for(".pricing"), code=303)
    result = remove_override(model, valid_from)
    if result is None:
        flash(f"There is no override for {model} (already removed?).", "warn")
        return redirect(url_for(".pricing"), code=303)
    db.session.commit()
    now = {"shipped": "the shipped price", "updated": "its updated price",
           "unpriced": "no price (its events are unpriced)"}
    flash(f"Removed the override of {model}; it uses {now.get(result.price_source, 'its price')}"
          f" again. {_reestimated(result)}", "ok")
    return redirect(url_for(".pricing"), code=303)


def _reestimated(result) -> str:
    since = (f" from {result.since.isoformat()} (earlier days keep their estimates)"
             if result.since else "")
    if not result.examined:
        return f"No stored event{since} needed a new estimate."
    return (f"{result.changed:,} of {result.examined:,} estimated or unpriced events{since} "
            f"re-estimated on {result.days_refreshed:,} day(s); provider-reported costs are "
            "unchanged.")


def parse_day(label: str, raw: str) -> tuple[date | None, str | None]:
    """A YYYY-MM-DD form field: (day, None) or (None, what is wrong)."""
    try:
        day = date.fromisoformat(raw.strip())
    except ValueError:
        return None, f"{label}: “{raw.strip()}” is not a day; write it as YYYY-MM-DD."
    if day < FAR_PAST:
        return None, f"{label}: {FAR_PAST.isoformat()} or later."
    return day, None


# --- people and roles -------------------------------------------------------------------------

ROLE_NAMES = {"admin": "an admin", "finance": "finance", "member": "a member"}


def _people_page(error: str | None = None, status: int = 200) -> ResponseReturnValue:
    settings = current_app.config["ABACUS"]
    return render_template("admin/people.html", section="people", users=data.user_rows(),
                           admins=data.admin_count(), error=error, roles=ROLES,
                           env_admins=set(settings.admins),
                           env_finance=set(settings.finance)), status


@bp.get("/people")
def people() -> ResponseReturnValue:
    return _people_page()


@bp.post("/people/<int:user_id>/role")
def set_role(user_id: int) -> ResponseReturnValue:
    role = request.form.get("role", "")
    if role not in ROLES:
        abort(400)
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    try:
        changed = user_service.set_role(user, role)
    except LastAdmin:
        db.session.rollback()
        who = "You are" if user.id == current_user.id else f"{user.email} is"
        return _people_page(f"{who} the only admin. Make someone else an admin first: "
                            "without an admin nobody could add accounts, map identities or "
                            "change roles.", 409)
    if not changed:
        db.session.rollback()
        flash(f"{user.email} already is {ROLE_NAMES[role]}.", "warn")
        return redirect(url_for(".people"), code=303)
    db.session.commit()
    if user.id == current_user.id:
        flash(f"You are {ROLE_NAMES[role]} now; another admin can make you an admin again.",
              "ok")
        return redirect(url_for("dashboard.index"), code=303)
    settings = current_app.config["ABACUS"]
    note = (" ABACUS_ADMINS lists them, so their next sign-in makes them an admin again."
            if role != "admin" and user.email in settings.admins else
            " ABACUS_FINANCE lists them, so their next sign-in makes them finance again."
            if role == "member" and user.email in settings.finance else "")
    # Takes effect on their next request: the user row (and role) is read on every one.
    flash(f"{user.email} is {ROLE_NAMES[role]} now.{note}", "ok")
    return redirect(url_for(".people"), code=303)


@bp.post("/people/<int:user_id>/active")
def set_active(user_id: int) -> ResponseReturnValue:
    """Deactivate (signed out everywhere at once, cannot sign in) or reactivate a person."""
    active = request.form.get("active", "")
    if active not in ("0", "1"):
        return _people_page("Say whether to deactivate (active=0) or reactivate (active=1).",
                            400)
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    try:
        changed = user_service.set_active(user, active == "1", current_user)
    except CannotDeactivate as exc:
        db.session.rollback()
        return _people_page(str(exc), 409)
    state = "active" if active == "1" else "deactivated"
    if not changed:
        flash(f"{user.email} already is {state}.", "warn")
    elif active == "1":
        flash(f"{user.email} is active again and can sign in.", "ok")
    else:
        flash(f"{user.email} is deactivated: signed out everywhere and cannot sign in.", "ok")
    return redirect(url_for(".people"), code=303)


# --- access log ------------------------------------------------------------------------------

@bp.get("/access-log")
def access_log() -> ResponseReturnValue:
    """Who opened whose person page, downloaded which export or called the API: newest
    first, filtered by viewer and/or target (contains, any case), 50 a page."""
    viewer = params.text("viewer", max_length=255)
    target = params.text("target", max_length=255)
    page = access_records.entries(params.page(), viewer=viewer, target=target)
    return render_template("admin/access_log.html", section="access_log", log=page,
                           viewer_q=viewer, target_q=target,
                           days=current_app.config["ABACUS"].access_log_days)


def _sentence(message: str) -> str:
    """An error from a lower layer as a sentence: capital first letter, final period."""
    message = message.strip()
    if not message:
        return message
    for key, (label, _) in SETTING_LABELS.items():  # "proxy_url: …" → "Proxy URL: …"
        if message.startswith(key + ":"):
            message = label + message[len(key):]
    message = message[0].upper() + message[1:]
    return message if message.endswith((".", "!", "?")) else message + "."
