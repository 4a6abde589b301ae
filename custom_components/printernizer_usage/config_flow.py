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
    DEFAULT_RETENTION_DAYS,
    DOMAIN,
    MAX_RETENTION_DAYS,
    MIN_RETENTION_DAYS,
)
from .coordinator import PrinternizerUsageConfigEntry
from .core.models import CONSENT_VERSION
from .core.submitter import DEFAULT_ENDPOINT
from .sharing import (
    async_temporary_service,
    async_validate_endpoint,
    clean_endpoint,
    format_payload,
)

_LOGGER = logging.getLogger(__name__)

TITLE = "Printernizer usage statistics"
URL_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
SHARING_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_SHARE, default=False): BooleanSelector(),
        vol.Required(CONF_ENDPOINT, default=DEFAULT_ENDPOINT): URL_SELECTOR,
    }
)
RECONFIGURE_SCHEMA = vol.Schema({vol.Required(CONF_ENDPOINT): URL_SELECTOR})
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
        """Start with sharing off and the project's endpoint."""
        self._endpoint = DEFAULT_ENDPOINT

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
        """Show the exact payload that would be sent, then let the user confirm or decline."""
        async with async_temporary_service(self.hass) as service:
            payload = await service.preview()
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
        return self.async_create_entry(
            title=TITLE,
            data={CONF_ENDPOINT: self._endpoint},
            options={CONF_SHARE: share, CONF_RETENTION_DAYS: DEFAULT_RETENTION_DAYS},
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the endpoint (checked against the server while sharing is on)."""
        entry: PrinternizerUsageConfigEntry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            endpoint = clean_endpoint(user_input[CONF_ENDPOINT])
            probe = bool(entry.options.get(CONF_SHARE, False))
            error = await async_validate_endpoint(self.hass, endpoint, probe=probe)
            if error:
                errors[CONF_ENDPOINT] = error
            else:
                # The update listener reloads the entry (a flow that reloads it as well is
                # deprecated), so this works the same on every supported release.
                self.hass.config_entries.async_update_entry(
                    entry, data={**entry.data, CONF_ENDPOINT: endpoint}
                )
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

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Sharing on/off, retention, and on opting out whether the server deletes our data."""
        entry: PrinternizerUsageConfigEntry = self.config_entry
        if entry.state is not ConfigEntryState.LOADED:
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
                return self.async_create_entry(data=self._options)
        suggested = user_input or {
            CONF_SHARE: was_sharing,
            CONF_RETENTION_DAYS: entry.options.get(CONF_RETENTION_DAYS, DEFAULT_RETENTION_DAYS),
            CONF_DELETE_REMOTE: False,
        }
        schema = vol.Schema(
            {
                vol.Required(CONF_SHARE): BooleanSelector(),
                vol.Required(CONF_RETENTION_DAYS): RETENTION_SELECTOR,
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
        return self.async_create_entry(data=self._options)

    async def async_step_decline_share(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Keep sharing off; the other choices (retention) still apply."""
        return self.async_create_entry(data={**self._options, CONF_SHARE: False})
