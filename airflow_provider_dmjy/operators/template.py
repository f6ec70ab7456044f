"""Operators that keep DMJY product templates in sync: create (idempotently by name) and delete."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_dmjy._compat import AirflowFailException
from airflow_provider_dmjy.client.models import CreateTemplateRequest
from airflow_provider_dmjy.exceptions import DmjyAmbiguousRequestError, DmjyNotFoundError
from airflow_provider_dmjy.operators.base import DmjyBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["IF_EXISTS_CHOICES", "DmjyCreateTemplateOperator", "DmjyDeleteTemplateOperator"]

#: What :class:`DmjyCreateTemplateOperator` does when the user already has a template of that name.
IF_EXISTS_CHOICES = ("reuse", "create", "fail")


class DmjyCreateTemplateOperator(DmjyBaseOperator):
    """Create a product template, or reuse the user's template of the same name.

    A product template is the product's record on the DMJY platform (name, image, description,
    price) for the platform's own tools and people working in the account; a video create does not
    take one (it carries its own description and images). Every argument is validated before the
    first request that could create. A create that may have reached the
    server without an answer (``DmjyAmbiguousRequestError``) is reconciled by looking the template
    up by name, so an Airflow retry or a lost response never leaves two copies.

    :param name: the template's name; with ``if_exists="reuse"`` also its identity for this user.
    :param user_id: the vendor user owning the template; None (or empty) takes the connection's
        ``user_id`` extra, else the ``userId`` of the API key's account (one ``GET /account`` per
        hook: :meth:`DmjyHook.template_user_id`).
    :param image_url: http(s) URL of the product image.
    :param description: free text.
    :param product_name: the product's display name.
    :param price: a string such as ``"99.00"`` or a number (formatted with two decimals).
    :param if_exists: ``"reuse"`` (default) returns the user's existing template of that name,
        ``"create"`` always creates another, ``"fail"`` fails the task naming the existing id.
    :param dmjy_conn_id: the ``dmjy`` connection to use.
    :return: the template dict with the vendor's field names: ``id``, ``userId``, ``name``,
        ``imageUrl``, ``description``, ``productName``, ``price``, ``createdAt`` (a reused template
        as listed, with ``updatedAt`` and ``productPosterUrl`` too; a new one as sent plus the
        create's answer). ``"{{ ti.xcom_pull('<task id>')['id'] }}"`` is its id downstream.
    """

    template_fields: Sequence[str] = (
        "name",
        "user_id",
        "image_url",
        "description",
        "product_name",
        "price",
        "dmjy_conn_id",
    )

    def __init__(
        self,
        *,
        name: str,
        user_id: str | None = None,
        image_url: str | None = None,
        description: str | None = None,
        product_name: str | None = None,
        price: str | float | None = None,
        if_exists: str = "reuse",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if if_exists not in IF_EXISTS_CHOICES:
            raise ValueError(f"if_exists must be one of {', '.join(IF_EXISTS_CHOICES)} (got {if_exists!r})")
        self.name = name
        self.user_id = user_id
        self.image_url = image_url
        self.description = description
        self.product_name = product_name
        self.price = price
        self.if_exists = if_exists

    def execute(self, context: Context) -> dict[str, Any]:
        """Validate, then reuse, refuse or create the template; returns the template dict."""
        with self.failures():
            request = CreateTemplateRequest(
                # An empty rendered value (a missing XCom) also means "the default owner".
                user_id=self.hook.template_user_id(self.user_id or None),
                name=self.name,
                image_url=self.image_url,
                description=self.description,
                product_name=self.product_name,
                price=self.price,
            )
            return self._reuse_or_create(request)

    def _reuse_or_create(self, request: CreateTemplateRequest) -> dict[str, Any]:
        user_id, name = request.user_id, request.name
        # Listed in every mode: the ids seen before the create tell an ambiguous create's own
        # template apart from an older namesake (createdAt is only to the second).
        existing = self._same_name(user_id, name)
        if existing and self.if_exists != "create":
            chosen = existing[0]
            if self.if_exists == "fail":
                raise AirflowFailException(
                    f"DMJY template {name!r} already exists for user {user_id!r} "
                    f"(id {chosen.get('id')}); if_exists='fail'"
                )
            if len(existing) > 1:
                self.log.warning(
                    "User %s has %d DMJY templates named %r; reusing the newest, %s",
                    user_id,
                    len(existing),
                    name,
                    chosen.get("id"),
                )
            self.log.info("Reusing DMJY template %s (%r) of user %s", chosen.get("id"), name, user_id)
            return chosen
        known_ids = {str(t.get("id")) for t in existing}

        try:
            created = self.hook.create_template_from(request)
        except DmjyAmbiguousRequestError as error:
            self.log.warning("Creating DMJY template %r may have succeeded (%s); looking it up", name, error)
            found = self._created_by(user_id, name, known_ids)
            if found is not None:
                self.log.info("The ambiguous create did apply: DMJY template %s", found.get("id"))
                return found
            self.log.info("The ambiguous create did not apply; creating DMJY template %r once more", name)
            created = self.hook.create_template_from(request)
        self.log.info("Created DMJY template %s (%r) for user %s", created.get("id"), name, user_id)
        # The create answers only id, name and createdAt: add what was sent so callers see one shape.
        return {**request.to_wire(), **created}

    def _same_name(self, user_id: str, name: str) -> list[dict[str, Any]]:
        """The user's templates called ``name``, newest first (the API's list order)."""
        return [
            template
            for template in self.hook.iter_templates(user_id=user_id)
            if template.get("name") == name and template.get("userId", user_id) == user_id
        ]

    def _created_by(self, user_id: str, name: str, known_ids: set[str]) -> dict[str, Any] | None:
        """The template an ambiguous create made, if it made one: a namesake not seen before it."""
        candidates = [t for t in self._same_name(user_id, name) if str(t.get("id")) not in known_ids]
        return candidates[0] if candidates else None


class DmjyDeleteTemplateOperator(DmjyBaseOperator):
    """Delete a product template.

    :param template_id: the template's id (templated: an upstream XCom works).
    :param missing_ok: succeed, with a log line, when the template does not exist (already deleted).
    :param dmjy_conn_id: the ``dmjy`` connection to use.
    :return: the template id.
    """

    template_fields: Sequence[str] = ("template_id", "dmjy_conn_id")

    def __init__(self, *, template_id: str, missing_ok: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.template_id = template_id
        self.missing_ok = missing_ok

    def execute(self, context: Context) -> str:
        """Delete the template; returns its id."""
        with self.failures():
            try:
                self.hook.delete_template(self.template_id)
            except DmjyNotFoundError:
                if not self.missing_ok:
                    raise
                self.log.info(
                    "DMJY template %s does not exist (deleted already?): nothing to do", self.template_id
                )
            else:
                self.log.info("Deleted DMJY template %s", self.template_id)
            return self.template_id
