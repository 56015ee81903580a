"""Write the corpus's notebooks with nbformat (run it after editing a cell below; the .ipynb files are committed).

    .venv/bin/python tests/corpus/grader/make_notebooks.py
"""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = [
    new_markdown_cell("# Homework 4: colored shapes"),
    new_code_cell("from google.colab import drive\ndrive.mount('/content/drive')"),
    new_code_cell("!pip install -q einops wandb\n%matplotlib inline"),
    new_code_cell(
        "import numpy as np\nimport torch\nfrom torch import nn\nfrom torch.nn import functional as F\n"
        "from tqdm.auto import tqdm\nimport wandb\n\ndevice = torch.device('cuda:0')\n"
        "assert torch.cuda.is_available(), 'switch the runtime to GPU'\nwandb.init(project='hw4')"),
    new_code_cell("data = np.load('/content/drive/MyDrive/shapes_dataset.npy', allow_pickle=True).item()\n"
                  "print(data['images'].shape)"),
]

TRAIN_AE = '''def train_autoencoder(latent_dim: int):
    enc = Encoder(latent_dim).to(device)
    dec = Decoder(latent_dim).to(device)
    optim = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=2e-4)
    dataloader = torch.utils.data.DataLoader(Dataset('train'), batch_size=256, shuffle=True)
    for epoch in tqdm(range(30)):
        for batch, in dataloader:
            batch = batch.to(device)
            # FIXME
{lines}
            optim.zero_grad()
            loss.backward()
            optim.step()
        wandb.log({{'ae_loss': loss.item()}})
    return enc, dec
'''

TRAIN_CL = '''def train_contrastive(transforms, latent_dim: int, *, tau: float = 0.07):
    enc = Encoder(latent_dim, normalize=True).to(device)
    optim = torch.optim.Adam(enc.parameters(), lr=2e-4)
    dataset = Dataset('train', transforms, num_samples=2)
    dataloader = torch.utils.data.DataLoader(dataset, batch_size=256, shuffle=True)
    for epoch in range(15):
        for batch1, batch2 in tqdm(dataloader):
            batch1 = batch1.to(device)
            batch2 = batch2.to(device)
            # FIXME
{lines}
            optim.zero_grad()
            loss.backward()
            optim.step()
    return enc
'''


def indent(lines: str) -> str:
    return "\n".join("            " + line if line else "" for line in lines.strip("\n").split("\n")) + "\n"


def course(ae_lines: str, cl_lines: str) -> nbformat.NotebookNode:
    cells = SETUP + [
        new_code_cell(TRAIN_AE.format(lines=indent(ae_lines))),
        new_code_cell("ae_enc, ae_dec = train_autoencoder(128)\nshow_neighbours(ae_enc)"),
        new_code_cell(TRAIN_CL.format(lines=indent(cl_lines))),
        new_code_cell("enc_A = train_contrastive(aug_A, 128)\nenc_B = train_contrastive(aug_B, 128)"),
    ]
    return new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})


NOTEBOOKS = {
    # the course notebook, student lines inside the loops, with .cuda() calls
    "ok_course_notebook/hw4.ipynb": course(
        "recon = dec(enc(batch))\nloss = ((recon - batch) ** 2).mean()",
        "z1 = enc(batch1)\nz2 = enc(batch2)\nlogits = z1 @ z2.T / tau\n"
        "labels = torch.arange(logits.shape[0]).cuda()\nloss = nn.CrossEntropyLoss()(logits, labels)"),
    # the same notebook with a known mistake in the contrastive lines
    "bad_course_notebook_missing_tau/hw4.ipynb": course(
        "loss = F.mse_loss(dec(enc(batch)), batch)",
        "logits = enc(batch1) @ enc(batch2).T\nloss = F.cross_entropy(logits, torch.arange(len(logits), device=device))"),
    # handout-style functions written in a notebook, after the same hostile setup cells
    "ok_handout_notebook/similarity.ipynb": new_notebook(cells=SETUP + [
        new_code_cell("def autoencoder_loss(enc, dec, batch):\n    recon = dec(enc(batch)).cuda()\n"
                      "    return F.mse_loss(recon, batch.cuda())"),
        new_code_cell("def contrastive_loss(enc, batch1, batch2, tau):\n"
                      "    logits = enc(batch1.to(device)) @ enc(batch2.to(device)).T / tau\n"
                      "    return F.cross_entropy(logits, torch.arange(len(logits), device=device))"),
        new_code_cell("loss = contrastive_loss(enc_A, x1, x2, 0.07)\nprint(loss)"),
    ]),
    # one cell does not parse: the other cell's function is still graded
    "broken_notebook_cell_syntax/similarity.ipynb": new_notebook(cells=[
        new_code_cell("import torch\nimport torch.nn.functional as F"),
        new_code_cell("def autoencoder_loss(enc, dec, batch):\n    recon = dec(enc(batch)\n"
                      "    return F.mse_loss(recon, batch)"),
        new_code_cell("def contrastive_loss(enc, batch1, batch2, tau):\n"
                      "    logits = enc(batch1) @ enc(batch2).T / tau\n"
                      "    return F.cross_entropy(logits, torch.arange(len(logits)))"),
    ]),
}

if __name__ == "__main__":
    for relative, notebook in NOTEBOOKS.items():
        path = HERE / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        for index, cell in enumerate(notebook.cells, start=1):
            cell.id = f"cell-{index}"  # stable ids: regenerating leaves unchanged notebooks byte-identical
        nbformat.write(notebook, str(path))
        print("wrote", path.relative_to(HERE))
