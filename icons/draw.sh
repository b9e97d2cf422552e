#!/usr/bin/env bash
# Draws TempleSync's icons with ImageMagick (run once; the PNGs are committed):
#   icon.png, 32x32.png, 128x128.png, 128x128@2x.png   the app icon
#   tray-synced.png, tray-syncing.png, tray-offline.png, tray-conflicts.png
#                                                       one tray icon per sync state (64 px)
# Shapes are drawn at 4x and scaled down for smooth edges. Colours match ui/src/style.css.
set -euo pipefail
cd "$(dirname "$0")"
IM=/usr/bin/convert # the real ImageMagick (not a stand-in earlier on PATH)

GREEN='#1f8a4c' BLUE='#1d6fd1' GREY='#7b8490' AMBER='#d98a00' TEAL='#0f5e66'

# A band along a circular arc (cx cy radius width from to, in degrees) as a filled polygon:
# ImageMagick 6 strokes open arcs and polylines as if closed, a filled outline has no such
# problem.
arc() {
    awk -v cx="$1" -v cy="$2" -v r="$3" -v w="$4" -v a="$5" -v b="$6" 'BEGIN {
        k = 3.14159265 / 180; printf "polygon"
        for (t = a; t <= b + 0.001; t += 2.5) printf " %.1f,%.1f", cx + (r + w/2) * cos(t*k), cy + (r + w/2) * sin(t*k)
        for (t = b; t >= a - 0.001; t -= 2.5) printf " %.1f,%.1f", cx + (r - w/2) * cos(t*k), cy + (r - w/2) * sin(t*k)
    }'
}

# The "sync" mark: two arcs of one circle chasing each other, each ending in an arrowhead.
# Angles run clockwise from 3 o'clock (ImageMagick's convention); the heads sit at the arcs'
# ends (340 and 160 degrees), pointing along the circle.
APP_ARROWS="-stroke none -fill white \
    -draw '$(arc 512 512 250 84 205 340)' -draw '$(arc 512 512 250 84 25 160)' \
    -draw 'polygon 778,511 822,399 672,454' -draw 'polygon 246,513 202,625 352,570'"

# App icon: a rounded teal tile, the sync mark, and a small golden temple in the middle.
eval "$IM -size 1024x1024 xc:none -fill '$TEAL' -draw 'roundrectangle 40,40 984,984 210,210' \
    $APP_ARROWS \
    -fill '#f4b942' -stroke none \
    -draw 'polygon 512,392 532,446 492,446' \
    -draw 'polygon 474,446 550,446 562,500 462,500' \
    -draw 'polygon 456,500 568,500 584,560 440,560' \
    -draw 'rectangle 424,560 600,650' \
    -fill '$TEAL' -draw 'roundrectangle 494,596 530,650 16,16' \
    -resize 512x512 icon.png"
$IM icon.png -resize 256x256 128x128@2x.png
$IM icon.png -resize 128x128 128x128.png
$IM icon.png -resize 32x32 32x32.png

# Tray icons: a coloured disc with a white glyph, drawn at 256 px, kept at 64 px.
tray() { # name colour glyph-draw-args
    local name=$1 colour=$2
    eval "$IM -size 256x256 xc:none -fill '$colour' -stroke none -draw 'circle 128,128 128,6' $3 \
        -resize 64x64 tray-$name.png"
}
tray synced "$GREEN" "-fill none -stroke white -strokewidth 30 \
    -draw 'stroke-linecap round stroke-linejoin round polyline 72,132 112,172 186,94'"
tray syncing "$BLUE" "-stroke none -fill white \
    -draw '$(arc 128 128 62 24 205 340)' -draw '$(arc 128 128 62 24 25 160)' \
    -draw 'polygon 198,139 215,96 158,117' -draw 'polygon 58,117 41,160 98,139'"
tray offline "$GREY" "-fill white -stroke none \
    -draw 'circle 98,138 98,106' -draw 'circle 146,120 146,78' -draw 'circle 184,146 184,120' \
    -draw 'roundrectangle 64,136 212,172 18,18' \
    -stroke '$GREY' -strokewidth 30 -draw 'line 64,64 196,196' \
    -stroke white -strokewidth 12 -draw 'stroke-linecap round line 64,64 196,196'"
tray conflicts "$AMBER" "-fill white -stroke none -draw 'roundrectangle 112,50 144,148 16,16' \
    -draw 'circle 128,190 128,170'"
echo "icons drawn in $(pwd)"
