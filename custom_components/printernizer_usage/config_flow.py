"""Config, options and reconfigure flows: the user's informed decision about sharing."""

from __future__ import annotations

import logging
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import (
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.core import callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .const import (
    CONF_DELETE_REMOTE,
    CONF_ENDPOINT,
    CONF_RETENTION_DAYS,
    CONF_SHARE,
    CONF_SUBMIT_KEY,
    DEFAULT_RETENTION_DAYS,
    DOMAIN,
    MAX_RETENTION_DAYS,
    MIN_RETENTION_DAYS,
)
from .coordinator import PrinternizerUsageConfigEntry
from .core.models import CONSENT_VERSION
from .core.submitter import DEFAULT_ENDPOINT
from .sharing import (
    Identity,
    async_flow_preview,
    async_validate_endpoint,
    clean_endpoint,
    format_payload,
)

_LOGGER = logging.getLogger(__name__)

TITLE = "Printernizer usage statistics"
URL_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
# A credential: masked in the dialog like a password, never shown in diagnostics.
KEY_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
SHARING_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_SHARE, default=False): BooleanSelector(),
        vol.Required(CONF_ENDPOINT, default=DEFAULT_ENDPOINT): URL_SELECTOR,
        vol.Optional(CONF_SUBMIT_KEY): KEY_SELECTOR,
    }
)
RECONFIGURE_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_ENDPOINT): URL_SELECTOR,
        vol.Optional(CONF_SUBMIT_KEY): KEY_SELECTOR,
    }
)
RETENTION_SELECTOR = NumberSelector(
    NumberSelectorConfig(
        min=MIN_RETENTION_DAYS,
        max=MAX_RETENTION_DAYS,
        step=1,
        mode=NumberSelectorMode.BOX,
        unit_of_measurement="d",
    )
)
PREVIEW_MENU = ["confirm_share", "decline_share"]


class PrinternizerUsageConfigFlow(ConfigFlow, domain=DOMAIN):
    """Explain, choose, preview, confirm: nothing is shared without a look at the payload."""

    VERSION = 1

    def __init__(self) -> None:
        """Start with sharing off and the project's endpoint; no identity until a preview."""
        self._endpoint = DEFAULT_ENDPOINT
        self._submit_key = ""
        # Made for the preview and kept only in this flow: an abandoned flow leaves nothing.
        self._identity: Identity | None = None

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: PrinternizerUsageConfigEntry) -> OptionsFlow:
        """The options flow: change the sharing choice and the retention."""
        return PrinternizerUsageOptionsFlow()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Explain what is collected and what never is."""
        if user_input is not None:
            return await self.async_step_sharing()
        return self.async_show_form(
            step_id="user",
            data_schema=vol.Schema({}),
            description_placeholders={"consent_version": CONSENT_VERSION},
        )

    async def async_step_sharing(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Choose whether to share (off by default) and where reports would go."""
        errors: dict[str, str] = {}
        if user_input is not None:
            self._endpoint = clean_endpoint(user_input[CONF_ENDPOINT])
            self._submit_key = user_input.get(CONF_SUBMIT_KEY, "").strip()
            share: bool = user_input[CONF_SHARE]
            error = await async_validate_endpoint(self.hass, self._endpoint, probe=share)
            if error:
                errors[CONF_ENDPOINT] = error
            elif share:
                return await self.async_step_preview()
            else:
                return self._async_create(share=False)
        return self.async_show_form(
            step_id="sharing",
            data_schema=self.add_suggested_values_to_schema(SHARING_SCHEMA, user_input),
            errors=errors,
        )

    async def async_step_preview(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the exact payload that would be sent, then let the user confirm or decline.

        The identity in it is made here and kept in this flow until the entry is created, so
        nothing is written before that and the id shown is the id the entry then uses.
        """
        if self._identity is None:
            self._identity = Identity.new()
        payload = await async_flow_preview(self.hass, self._identity)
        return self.async_show_menu(
            step_id="preview",
            menu_options=PREVIEW_MENU,
            description_placeholders={
                "payload": format_payload(payload),
                "endpoint": self._endpoint,
            },
        )

    async def async_step_confirm_share(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The user saw the payload and shares."""
        return self._async_create(share=True)

    async def async_step_decline_share(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The user saw the payload and keeps everything local."""
        return self._async_create(share=False)

    @callback
    def _async_create(self, *, share: bool) -> ConfigFlowResult:
        data: dict[str, Any] = {CONF_ENDPOINT: self._endpoint}
        if self._submit_key:
            data[CONF_SUBMIT_KEY] = self._submit_key
        if share and self._identity is not None:
            data.update(self._identity.as_entry_data())
        return self.async_create_entry(
            title=TITLE,
            data=data,
            options={CONF_SHARE: share, CONF_RETENTION_DAYS: DEFAULT_RETENTION_DAYS},
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the endpoint and its submit key (the endpoint is checked while sharing is on).

        The running engine takes the change over without a reload (see the update listener).
        """
        entry: PrinternizerUsageConfigEntry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            endpoint = clean_endpoint(user_input[CONF_ENDPOINT])
            probe = bool(entry.options.get(CONF_SHARE, False))
            error = await async_validate_endpoint(self.hass, endpoint, probe=probe)
            if error:
                errors[CONF_ENDPOINT] = error
            else:
                data = {**entry.data, CONF_ENDPOINT: endpoint}
                data = _with_submit_key(data, user_input.get(CONF_SUBMIT_KEY, ""))
                self.hass.config_entries.async_update_entry(entry, data=data)
                return self.async_abort(reason="reconfigure_successful")
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                RECONFIGURE_SCHEMA, user_input or dict(entry.data)
            ),
            errors=errors,
        )


class PrinternizerUsageOptionsFlow(OptionsFlow):
    """Change the sharing choice (with the same preview) and how long events are kept."""

    def __init__(self) -> None:
        """Nothing chosen yet."""
        self._options: dict[str, Any] = {}
        self._submit_key = ""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Sharing on/off, retention, the submit key, and on opting out a remote deletion.

        Saving never reloads the entry (the update listener applies the change to the running
        engine), so the options can be opened again at once.
        """
        entry: PrinternizerUsageConfigEntry = self.config_entry
        if entry.state is not ConfigEntryState.LOADED:
            # Only a failed or disabled setup gets here; the abort text says what to do.
            return self.async_abort(reason="not_loaded")
        runtime = entry.runtime_data
        errors: dict[str, str] = {}
        was_sharing = bool(entry.options.get(CONF_SHARE, False))
        if user_input is not None:
            share: bool = user_input[CONF_SHARE]
            self._options = {
                CONF_SHARE: share,
                CONF_RETENTION_DAYS: int(user_input[CONF_RETENTION_DAYS]),
            }
            self._submit_key = user_input.get(CONF_SUBMIT_KEY, "")
            if share and not was_sharing:
                error = await async_validate_endpoint(
                    self.hass, entry.data[CONF_ENDPOINT], probe=True, service=runtime.service
                )
                if not error:
                    return await self.async_step_preview()
                errors["base"] = error
            else:
                if not share and was_sharing and user_input.get(CONF_DELETE_REMOTE):
                    # Opting out here (not in the update listener) because only this step
                    # knows about the deletion; the submitter retries it until the server
                    # confirms.
                    await runtime.submitter.opt_out(delete_remote=True)
                return self._async_save(self._options)
        suggested = user_input or {
            CONF_SHARE: was_sharing,
            CONF_RETENTION_DAYS: entry.options.get(CONF_RETENTION_DAYS, DEFAULT_RETENTION_DAYS),
            CONF_SUBMIT_KEY: entry.data.get(CONF_SUBMIT_KEY, ""),
            CONF_DELETE_REMOTE: False,
        }
        schema = vol.Schema(
            {
                vol.Required(CONF_SHARE): BooleanSelector(),
                vol.Required(CONF_RETENTION_DAYS): RETENTION_SELECTOR,
                vol.Optional(CONF_SUBMIT_KEY): KEY_SELECTOR,
                vol.Optional(CONF_DELETE_REMOTE): BooleanSelector(),
            }
        )
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders={"endpoint": entry.data[CONF_ENDPOINT]},
        )

    async def async_step_preview(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The same preview as when setting up: the exact payload, then confirm or decline."""
        entry: PrinternizerUsageConfigEntry = self.config_entry
        payload = await entry.runtime_data.service.preview()
        return self.async_show_menu(
            step_id="preview",
            menu_options=PREVIEW_MENU,
            description_placeholders={
                "payload": format_payload(payload),
                "endpoint": entry.data[CONF_ENDPOINT],
            },
        )

    async def async_step_confirm_share(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Share from now on."""
        return self._async_save(self._options)

    async def async_step_decline_share(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Keep sharing off; the other choices (retention) still apply."""
        return self._async_save({**self._options, CONF_SHARE: False})

    @callback
    def _async_save(self, options: dict[str, Any]) -> ConfigFlowResult:
        """Save the options, and the submit key where it belongs: with the endpoint in the
        entry's data (saved only now, so a flow left half-way changes nothing)."""
        entry: PrinternizerUsageConfigEntry = self.config_entry
        data = _with_submit_key(dict(entry.data), self._submit_key)
        if data != entry.data:
            self.hass.config_entries.async_update_entry(entry, data=data)
        return self.async_create_entry(data=options)


def _with_submit_key(data: dict[str, Any], key: str) -> dict[str, Any]:
    """Entry data with the submit key set, or removed when the field was left empty."""
    key = key.strip()
    without = {k: v for k, v in data.items() if k != CONF_SUBMIT_KEY}
    return {**without, CONF_SUBMIT_KEY: key} if key else without
