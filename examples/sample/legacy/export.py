# written for Python 2
print "exporting"
