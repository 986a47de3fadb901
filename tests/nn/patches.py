r"""A dense reference of the patch embedding, shared by the tests of the embedding and of
its band gradient."""
import torch


def dense_patch_tokens(embed, image, ptr):
    r"""The patch embedding of the dense image :math:`(B, n, n, 1 + E + F)`, graph by
    graph: pad every graph's :math:`n_b \times n_b` crop to whole patches, and sum
    ``W[i mod p_h, j mod p_w]`` times the edge channels and the node table's slot
    ``j mod p_w`` times the node channels (these sit on the diagonal)."""
    ph, pw = embed.patch_size
    E, F, D = embed.edge_channels, embed.node_channels, embed.embed_dim
    edge_w = embed.edge_table.view(ph, pw, 1 + E, D)
    node_w = embed.node_table.view(pw, F, D)
    tokens = []
    for b in range(ptr.numel() - 1):
        n = int(ptr[b + 1] - ptr[b])
        gh, gw = -(-n // ph), -(-n // pw)
        crop = image.new_zeros(gh * ph, gw * pw, image.size(-1))
        crop[:n, :n] = image[b, :n, :n]
        patches = crop.view(gh, ph, gw, pw, -1).permute(0, 2, 1, 3, 4)
        out = torch.einsum('abijc,ijcd->abd', patches[..., :1 + E], edge_w)
        if F:
            out = out + torch.einsum('abijf,jfd->abd', patches[..., 1 + E:], node_w)
        tokens.append(out.reshape(gh * gw, D))
    return torch.cat(tokens) + embed.bias
