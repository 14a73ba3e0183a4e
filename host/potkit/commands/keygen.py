"""`potkit keygen`: create the issuer key pair (potkit.keys; the private key mode 0600)."""
from potkit import keys


def add_arguments(p):
    p.add_argument("--key", default=keys.default_key_path(),
                   help="private key path (default $%s, else %s: outside any checkout); the public key goes "
                        "to KEY.pub" % (keys.KEY_ENV, keys.DEFAULT_KEY_PATH))
    p.add_argument("--force", action="store_true", help="replace an existing key pair")


def run(args):
    public = keys.generate_keypair(args.key, args.force)
    print("wrote %s (mode 0600) and %s" % (args.key, keys.public_key_path(args.key)))
    print(public.hex())
