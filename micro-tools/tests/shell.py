"""Drives `micro cli` through a pseudo-terminal (pexpect): a call, a completion, errors, exit."""
import sys

import pexpect

micro = sys.argv[1]
shell = pexpect.spawn(micro, ["cli"], encoding="utf-8", timeout=20, dimensions=(40, 200))
shell.expect_exact("micro> ")

shell.sendline('call go.micro.srv.greeter Greeter.Call \'{"name": "John"}\'')
shell.expect_exact('"msg": "Hello John"')
shell.expect_exact("micro> ")

# Completion: a command, then a service name from the registry.
shell.send("ge\t")
shell.expect_exact("get ")
shell.send("service go.micro.srv.gr\t")
shell.expect_exact("go.micro.srv.greeter ")
shell.sendline("")
shell.expect_exact("service  go.micro.srv.greeter")
shell.expect_exact("micro> ")

# Endpoint completion after a service.
shell.send("call go.micro.srv.greeter Greeter.C\t")
shell.expect_exact("Greeter.Call ")
shell.sendline('\'{"name": "Tab"}\'')
shell.expect_exact('"msg": "Hello Tab"')
shell.expect_exact("micro> ")

shell.sendline("frobnicate")
shell.expect_exact("unknown command")
shell.expect_exact("micro> ")

shell.sendline("exit")
shell.expect(pexpect.EOF)
shell.close()
if shell.exitstatus != 0:
    sys.exit(f"micro cli exited with {shell.exitstatus}")
print("shell ok")
