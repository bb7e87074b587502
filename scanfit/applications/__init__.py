"""`keras.applications`: Keras's ImageNet models with their names, layers and weights (`VGG16`, `VGG19`,
`ResNet50`, `ResNet101`, `ResNet152`), each module with its `preprocess_input` and `decode_predictions`."""
from scanfit.applications import imagenet_utils, resnet, resnet50, vgg16, vgg19
from scanfit.applications.resnet import ResNet50, ResNet101, ResNet152
from scanfit.applications.vgg import VGG16, VGG19

__all__ = ["ResNet101", "ResNet152", "ResNet50", "VGG16", "VGG19", "imagenet_utils", "resnet", "resnet50", "vgg16",
           "vgg19"]
