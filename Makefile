# Two commands on a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   ?= demo

.PHONY: setup test demo bench clean ffmpeg-libs

setup: $(STAMP)

# torchcodec (the `hico` extra) loads the system's shared FFmpeg libraries. When none is found and
# this is Debian or Ubuntu as root, install the distribution's (no `ffmpeg` program: the build keeps
# using the imageio-ffmpeg one); otherwise say so (torchcodec is then unavailable, the tests say why).
FFMPEG_LIB_SETS := "libavdevice59 libavfilter8" "libavdevice61 libavfilter10" "libavdevice60 libavfilter9"
ffmpeg-libs:
	@if ldconfig -p 2>/dev/null | grep -q 'libavcodec\.so\.'; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
	  echo "note: no FFmpeg shared libraries; install your distribution's libavcodec/libavformat/libavdevice for torchcodec"; exit 0; fi; \
	for set in $(FFMPEG_LIB_SETS); do \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$set >/dev/null 2>&1 && exit 0; \
	done; \
	apt-get update -qq >/dev/null 2>&1; \
	for set in $(FFMPEG_LIB_SETS); do \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$set >/dev/null 2>&1 && exit 0; \
	done; \
	echo "note: could not install FFmpeg shared libraries with apt-get; torchcodec is unavailable"

$(STAMP): pyproject.toml trainer/pyproject.toml
	$(MAKE) ffmpeg-libs
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[build,hico,test]' -e './trainer[lora,ray]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/longvid demo $(DEMO)

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .hypothesis
