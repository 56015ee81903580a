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


# In[5]:


def train_autoencoder(latent_dim: int):
    enc = Encoder(latent_dim).to(device)
    dec = Decoder(latent_dim).to(device)
    optim = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=2e-4)
    dataloader = torch.utils.data.DataLoader(Dataset('train'), batch_size=256, shuffle=True)
    for epoch in tqdm(range(30)):
        for batch, in dataloader:
            batch = batch.to(device)
            # FIXME

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
    dataset = Dataset('train', transforms, num_samples=2)
    dataloader = torch.utils.data.DataLoader(dataset, batch_size=256, shuffle=True)
    for epoch in range(15):
        for i, (batch1, batch2) in enumerate(tqdm(dataloader)):
            batch1, batch2 = batch1.cuda(), batch2.cuda()
            # FIXME
            z1, z2 = enc(batch1), enc(batch2)
            logits = z1 @ z2.T / tau
            loss = F.cross_entropy(logits, torch.arange(len(logits), device=device))

            optim.zero_grad()
            loss.backward()
            optim.step()
            wandb.log({'loss': loss.item()})
    return enc


# In[8]:


enc_A = train_contrastive(aug_A, 128)
