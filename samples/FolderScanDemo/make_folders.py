#!/usr/bin/env python3
# Builds the image folders of README's `trap-replace scan` example from the offline CIFAR-10 copy: 5,000 untrusted
# images from data_batch_1 (500 of the non-airplanes carry a 3x3 checker in the bottom-right corner and sit in the
# 'airplane' folder, named p-*.png so the scan can be scored afterwards), and 500 other images as the clean holdout.
# Usage (needs python3-numpy and python3-pil): make_folders.py [DATA] [DEST]
#   DATA defaults to $TRAPREPLACE_DATA or ~/.cache/trapreplace-data; DEST to the current folder.
import numpy as np, os, sys
from PIL import Image
data = sys.argv[1] if len(sys.argv) > 1 else os.environ.get('TRAPREPLACE_DATA', os.path.expanduser('~/.cache/trapreplace-data'))
dest = sys.argv[2] if len(sys.argv) > 2 else '.'
raw = np.fromfile(os.path.join(data, 'cifar-10-batches-bin', 'data_batch_1.bin'), dtype=np.uint8).reshape(-1, 3073)
labels, images = raw[:, 0], raw[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
names = [l.strip() for l in open(os.path.join(data, 'cifar-10-batches-bin', 'batches.meta.txt')) if l.strip()]
rng = np.random.default_rng(0)
order = rng.permutation(len(labels))
untrusted, holdout = order[:5000], order[5000:5500]
candidates = [i for i in untrusted if labels[i] != 0]
poison = set(rng.choice(candidates, 500, replace=False).tolist())
pattern = np.array([[255, 0, 255], [0, 255, 0], [255, 0, 255]], dtype=np.uint8)
for folder, idx in (('untrusted', untrusted), ('holdout', holdout)):
    for i in idx:
        img, lab, tag = images[i].copy(), int(labels[i]), ''
        if folder == 'untrusted' and i in poison:
            img[29:32, 29:32, :] = pattern[:, :, None]
            lab, tag = 0, 'p-'
        d = os.path.join(dest, folder, names[lab]); os.makedirs(d, exist_ok=True)
        Image.fromarray(img).save(os.path.join(d, f'{tag}{i:05d}.png'))
print(len(poison), 'poisoned')

# Scoring a finished scan against the known poison (evaluation only; the scan never sees the names' prefix):
#   python3 -c "import csv; r=list(csv.DictReader(open('out/suspects.csv'))); s=[x for x in r if x['suspected']=='true']; \
#     tp=sum('/p-' in x['name'] for x in s); print(len(s), 'suspects, precision', tp/len(s), 'recall', tp/500)"
