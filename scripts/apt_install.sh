# Sourced by install.sh and test.sh: `apt_install COMMAND PACKAGE WHAT` installs PACKAGE with apt-get (as root,
# or with password-less sudo) unless COMMAND is on PATH; WHAT says what goes without it when it cannot.
apt_install() {
  local cmd="$1" pkg="$2" what="$3" sudo=""
  command -v "$cmd" >/dev/null 2>&1 && return 0
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  if command -v apt-get >/dev/null 2>&1 && { [ -z "$sudo" ] || sudo -n true 2>/dev/null; }; then
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$pkg" >/dev/null; } \
      || echo "warning: could not install $pkg; $what" >&2
  else
    echo "warning: $cmd is missing and apt-get/root is unavailable; install it (e.g. apt-get install $pkg) or $what" >&2
  fi
}
