from cryptography.fernet import Fernet
from django.db import connection

from partners import crypto
from partners.models import PartnerConnection
from tests.builders import connected_account


def test_tokens_are_ciphertext_in_the_database(workspace):
    account = connected_account(workspace, token="secret-token-value-9876")
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM partners_partnerconnection WHERE id = %s",
                       [account.connection_id])
        stored = cursor.fetchone()[0]
    assert "secret-token-value" not in stored
    assert crypto.decrypt(stored) == "secret-token-value-9876"
    assert PartnerConnection.objects.get(pk=account.connection_id).access_token == (
        "secret-token-value-9876")


def test_keys_rotate(settings, workspace):
    old_key = settings.TOKEN_ENCRYPTION_KEYS[0]
    account = connected_account(workspace, token="rotating-token-1234")
    new_key = Fernet.generate_key().decode()
    settings.TOKEN_ENCRYPTION_KEYS = [new_key, old_key]
    connection_row = PartnerConnection.objects.get(pk=account.connection_id)
    assert connection_row.access_token == "rotating-token-1234"  # old key still decrypts
    connection_row.save()  # re-encrypted with the newest key
    settings.TOKEN_ENCRYPTION_KEYS = [new_key]
    assert PartnerConnection.objects.get(pk=account.connection_id).access_token == (
        "rotating-token-1234")
