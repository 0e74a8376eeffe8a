from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2 import service_account

from aiovertexchat.emulator import Emulator, EmulatorConfig

from .netkit import PKI, ForwardProxy, TLSFront, make_pki


@pytest.fixture(scope="session")
def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def service_account_credentials(token_uri: str, pem: str) -> Any:
    """Real google-auth service-account credentials whose token requests go to `token_uri`."""
    return service_account.Credentials.from_service_account_info({
        "type": "service_account",
        "project_id": "emu-project",
        "private_key_id": "test-key-1",
        "private_key": pem,
        "client_email": "tester@emu-project.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": token_uri,
    })


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(Path(tmp_path_factory.mktemp("pki")))


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorConfig(require_issued_tokens=True)) as emulator:
        yield emulator


@pytest.fixture
async def front(pki: PKI, emu: Emulator) -> AsyncIterator[TLSFront]:
    """The emulator over https, its certificate signed by the test CA."""
    async with TLSFront(pki, emu.port) as server:
        yield server


@pytest.fixture
async def proxy() -> AsyncIterator[ForwardProxy]:
    async with ForwardProxy() as server:
        yield server
