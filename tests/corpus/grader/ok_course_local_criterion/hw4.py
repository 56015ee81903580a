#!/usr/bin/env python
# coding: utf-8

# # Homework 4: colored shapes

# In[1]:


from google.colab import drive
drive.mount('/content/drive')


# In[2]:


get_ipython().system('pip install -q einops wandb')
get_ipython().run_line_magic('matplotlib', 'inline')


# In[3]:


import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm
import einops
import wandb

device = torch.device('cuda:0')
assert torch.cuda.is_available()


# In[4]:


data = np.load('/content/drive/MyDrive/shapes_dataset.npy', allow_pickle=True).item()


# In[4b]:


class InfoNCE(nn.Module):
    """InfoNCE with in-batch negatives (the usage of the info-nce-pytorch package)."""

    def __init__(self, temperature=0.1, reduction="mean"):
        super().__init__()
        self.temperature = temperature
        self.reduction = reduction

    def forward(self, query, positive_key):
        logits = query @ positive_key.T / self.temperature
        labels = torch.arange(len(query), device=query.device)
        return F.cross_entropy(logits, labels, reduction=self.reduction)


# In[5]:


def train_autoencoder(latent_dim: int):
    enc = Encoder(latent_dim).to(device)
    dec = Decoder(latent_dim).to(device)
    optim = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=2e-4)
    criterion = nn.MSELoss()
    dataloader = torch.utils.data.DataLoader(Dataset('train'), batch_size=256, shuffle=True)
    for epoch in tqdm(range(30)):
        for batch, in dataloader:
            batch = batch.to(device)
            # FIXME
            loss = criterion(dec(enc(batch)), batch)

            optim.zero_grad()
            loss.backward()
            optim.step()
    return enc, dec


# In[6]:


ae_enc, ae_dec = train_autoencoder(128)


# In[7]:


def train_contrastive(transforms, latent_dim: int, *, tau: float = 0.07):
    enc = Encoder(latent_dim, normalize=True).to(device)
    optim = torch.optim.Adam(enc.parameters(), lr=2e-4)
    criterion = InfoNCE(temperature=tau)
    dataset = Dataset('train', transforms, num_samples=2)
    dataloader = torch.utils.data.DataLoader(dataset, batch_size=256, shuffle=True)
    for epoch in range(15):
        for i, (batch1, batch2) in enumerate(tqdm(dataloader)):
            batch1, batch2 = batch1.cuda(), batch2.cuda()
            # FIXME
            loss = criterion(enc(batch1), enc(batch2))

            optim.zero_grad()
            loss.backward()
            optim.step()
            wandb.log({'loss': loss.item()})
    return enc


# In[8]:


enc_A = train_contrastive(aug_A, 128)
