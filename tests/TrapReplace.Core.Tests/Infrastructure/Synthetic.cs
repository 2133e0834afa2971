using TrapReplace.Data;
using static TorchSharp.torch;

namespace TrapReplace.Core.Tests.Infrastructure;

/// <summary>Small seeded data sets whose classes are learnable in a few steps.</summary>
public static class Synthetic
{
    /// <summary>Class k has a distinct colour in one quadrant plus uniform noise; (n, 3, size, size) uint8.</summary>
    public static ImageDataset ColourClasses(int n, int classes = 4, int size = 32, int seed = 0)
    {
        var random = new Random(seed);
        var pixels = new byte[n * 3 * size * size];
        var labels = new long[n];
        for (int i = 0; i < n; i++)
        {
            int label = i % classes;
            labels[i] = label;
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < size; y++)
                    for (int x = 0; x < size; x++)
                    {
                        bool inQuadrant = (y < size / 2) == (label % 2 == 0) && (x < size / 2) == (label / 2 % 2 == 0);
                        int value = random.Next(0, 96) + (inQuadrant && c == label % 3 ? 150 : 0);
                        pixels[((i * 3 + c) * size + y) * size + x] = (byte)Math.Min(255, value);
                    }
        }
        using var images = tensor(pixels, [n, 3, size, size], ScalarType.Byte);
        using var labelTensor = tensor(labels);
        return ImageDataset.FromTensors(images, labelTensor, Enumerable.Range(0, classes).Select(k => $"c{k}").ToArray(), "synthetic");
    }
}
